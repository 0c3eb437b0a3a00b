"""Process groups a step leaves behind when its runner dies, so a resume can end them first.

A shell step runs in its own process group; if the runner process is killed, that group lives
on and could still be writing while the resumed run starts the step again. The shell agent
records each group it starts (host, group id and the leader's start time, so a reused id is
never mistaken for it) and forgets it when the command ends; ``reap`` ends what a dead run left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path

from autoagent.settings import get_settings


def _folder(run_id: str) -> Path:
    return get_settings().home / "processes" / run_id


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def remember(run_id: str, step_path: str, pgid: int) -> Path | None:
    """Record a running group of ``run_id``; returns the token to ``forget`` it with."""
    if not run_id:
        return None
    folder = _folder(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    token = folder / f"{socket.gethostname()}-{pgid}"
    token.write_text(f"{_start_time(pgid) or ''}\n{step_path}\n")
    return token


def forget(token: Path | None) -> None:
    if token is not None:
        with contextlib.suppress(FileNotFoundError):
            token.unlink()


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
        if started and _start_time(pgid) == started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
                ended.append(path.strip())
        forget(token)
    return ended
