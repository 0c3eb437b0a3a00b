"""The watchdog of one mission process: when that process ends, however it ends (``kill -9``
included), the step processes it started end too.

It runs as its own small process, in a session of its own (a ``kill`` of the mission's process
group does not reach it), started by ``autoagent.processes`` with ``python -I -S`` on this file:
standard library only, ~20 ms to start. It reads the mission's pipe: ``+ PGID START`` and
``- PGID`` lines name the step process groups that run (START, the leader's start time, tells the
group from a later one that reused the number). The mission process holds the only write end, so
end of file means it is gone; the watchdog then ends every registered group and every process
whose environment carries the mission's owner mark (a step's children that left its group
included): SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import sys
import time

GRACE_SECONDS = 1.0


def marked(variable: str, owner: str) -> set[int]:
    """Pids of the processes whose environment says ``variable=owner`` (Linux /proc)."""
    needle = f"{variable}={owner}".encode()
    found: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.add(int(entry))
        except OSError:
            continue
    found.discard(os.getpid())
    return found


def stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (0: the state letter, 2: the
    process group, 19: the start time in clock ticks since boot); None when it is gone. The one
    reader of that file: ``autoagent.processes`` uses it too."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields if len(fields) > 19 else None


def start_time(pid: int) -> str | None:
    """When a process started, zombies included (a zombie leader still holds its group)."""
    fields = stat(pid)
    return fields[19] if fields else None


def ours(registered: dict[int, str]) -> set[int]:
    """The registered groups that are still the ones registered. The kernel reuses no pid that a
    live process still has as its group id; so a group whose leader is gone is still ours, and
    one led by a process of another start time is a later group that took a freed number."""
    return {
        pgid
        for pgid, started in registered.items()
        if start_time(pgid) in (None, started) or not started
    }


def end_all(groups: set[int], variable: str, owner: str) -> None:
    """SIGTERM every group and marked process, then SIGKILL whatever is left after the grace."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = False
        for pgid in groups:
            try:
                os.killpg(pgid, sig)
                left = True
            except OSError:
                pass
        for pid in marked(variable, owner):
            try:
                os.kill(pid, sig)
                left = True
            except OSError:
                pass
        if not left or sig == signal.SIGKILL:
            return
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline and _any_left(groups, variable, owner):
            time.sleep(0.05)


def live_members(groups: set[int]) -> set[int]:
    """Pids of the live processes (zombies are not) in these process groups, from /proc; without
    /proc, the groups that still answer a signal 0."""
    found: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        for pgid in groups:
            try:
                os.killpg(pgid, 0)
                found.add(pgid)
            except OSError:
                pass
        return found
    for entry in entries:
        if entry.isdigit():
            fields = stat(entry)
            if fields is not None and fields[0] != "Z" and int(fields[2]) in groups:
                found.add(int(entry))
    return found


def _any_left(groups: set[int], variable: str, owner: str) -> bool:
    return bool(live_members(groups) or marked(variable, owner))


def main(argv: list[str]) -> int:
    variable, owner = argv[1], argv[2]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    registered: dict[int, str] = {}
    for line in iter(sys.stdin.buffer.readline, b""):
        sign, number, started = [*line.decode(errors="replace").split(), "", "", ""][:3]
        if sign == "+" and number.isdigit():
            registered[int(number)] = started
        elif sign == "-" and number.isdigit():
            registered.pop(int(number), None)
    end_all(ours(registered), variable, owner)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
