"""Step processes: they die with the mission process that started them, and a resume ends what an
older run left.

A shell step runs in a process group of its own, so a timeout or a cancel ends everything it
started. That also means a ``kill -9`` of the mission process (or of its whole group) would leave
the step running unsupervised, finishing its side effect while a resumed run does it again. So:

- every step process is started with ``step_env``: its environment carries the owner mark of the
  mission process (pid and start time), which its children inherit;
- ``track`` registers its group with the process's watchdog (autoagent/watchdog.py, one small
  process per mission process, started on first use), which ends every registered group and every
  marked process as soon as the mission process is gone, however it died;
- ``track`` also records the group on disk under the run id (host, group id, the leader's start
  time, so a reused id is never mistaken for it): ``reap``, called by resume and cancel, ends
  what a run on this host left behind if its watchdog could not (the host rebooted mid-kill).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from autoagent import watchdog
from autoagent.settings import get_settings

OWNER_VARIABLE = "AUTOAGENT_STEP_OWNER"
"""In every step process's environment: "<pid>:<start time>" of the mission process that owns it."""
WATCHDOG = Path(__file__).with_name("watchdog.py")


def start_time(pid: int) -> str | None:
    """When a live process started (clock ticks since boot, from /proc): with its pid, it names
    the process for good, since a pid is reused. None when it is gone or a zombie."""
    fields = watchdog.stat(pid)
    return None if fields is None or fields[0] == "Z" else fields[19]


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie has exited). Without /proc (not Linux), a signal 0."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if not os.path.isdir("/proc/self"):
        return True
    return start_time(pid) is not None


def owner_mark() -> str:
    pid = os.getpid()
    return f"{pid}:{start_time(pid) or ''}"


def step_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a step process: this process's, ``extra`` over it, and the owner mark.
    The watchdog is started first: a step killed with its mission before ``track`` is still
    found by its mark."""
    _watchdog.start()
    return {**os.environ, **(extra or {}), OWNER_VARIABLE: owner_mark()}


@dataclass(frozen=True)
class Tracked:
    pgid: int
    started: str
    token: Path | None


def track(run_id: str, step_path: str, pgid: int) -> Tracked:
    """A step's process group started: the watchdog guards it, and (with a run id) a record lets
    a resume end it. Give the result to ``untrack`` when the group is done."""
    started = start_time(pgid) or ""
    _watchdog.register(pgid, started)
    token = None
    if run_id:
        folder = _folder(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        token = folder / f"{socket.gethostname()}-{pgid}"
        token.write_text(f"{started}\n{step_path}\n")
    return Tracked(pgid, started, token)


def untrack(tracked: Tracked) -> None:
    _watchdog.unregister(tracked.pgid)
    if tracked.token is not None:
        with contextlib.suppress(FileNotFoundError):
            tracked.token.unlink()


def reap(run_id: str) -> list[str]:
    """SIGKILL the groups ``run_id`` left running on this host; the step paths they belonged to."""
    folder = _folder(run_id)
    if not folder.is_dir():
        return []
    ended: list[str] = []
    prefix = f"{socket.gethostname()}-"
    for token in folder.iterdir():
        if not token.name.startswith(prefix):
            continue
        started, _, path = token.read_text().partition("\n")
        pgid = int(token.name.removeprefix(prefix))
        if started and start_time(pgid) == started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
                ended.append(path.strip())
        with contextlib.suppress(FileNotFoundError):
            token.unlink()
    return ended


def _folder(run_id: str) -> Path:
    return get_settings().home / "processes" / run_id


class _Watchdog:
    """This process's side of the watchdog: the pipe to it, and the groups it guards now (so a
    watchdog that had to be restarted learns them again). Started on the first ``register``; a
    forked child starts one of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: int | None = None
        self._groups: dict[int, str] = {}

    def forget_parent(self) -> None:
        """In a forked child: the parent's pipe and groups are the parent's watchdog's business."""
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                os.close(self._pipe)
        self._lock = threading.Lock()
        self._pipe, self._groups = None, {}

    def register(self, pgid: int, started: str) -> None:
        with self._lock:
            self._groups[pgid] = started
            self._send(f"+ {pgid} {started}\n")

    def unregister(self, pgid: int) -> None:
        with self._lock:
            if self._groups.pop(pgid, None) is not None:
                self._send(f"- {pgid}\n")

    def start(self) -> None:
        with self._lock:
            if self._pipe is None:
                self._start()

    def _send(self, line: str) -> None:
        for _ in range(2):
            if self._pipe is None:
                self._start()
            assert self._pipe is not None
            try:
                os.write(self._pipe, line.encode())
                return
            except OSError:  # the watchdog died: start another, which learns every group
                os.close(self._pipe)
                self._pipe = None

    def _start(self) -> None:
        read, write = os.pipe()  # not inheritable: no step process holds the write end
        env = {k: v for k, v in os.environ.items() if k != OWNER_VARIABLE}
        try:
            subprocess.Popen(
                [sys.executable, "-I", "-S", str(WATCHDOG), OWNER_VARIABLE, owner_mark()],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a kill of the mission's group must not reach it
            )
        finally:
            os.close(read)
        self._pipe = write
        for pgid, started in self._groups.items():
            os.write(write, f"+ {pgid} {started}\n".encode())


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog.forget_parent)
