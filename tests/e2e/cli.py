"""Driving the ``autoagent`` CLI in subprocesses, as a user types it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

AUTOAGENT = str(Path(sys.executable).parent / "autoagent")
RUN_ID = re.compile(r"run ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def cli_env(extra: dict[str, str] | None = None, *, home: Path | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    if home is not None:  # the embedded default: its own PREFECT_HOME, no API URL
        env["PREFECT_HOME"] = str(home)
        env.pop("PREFECT_API_URL", None)
    return env


def autoagent(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AUTOAGENT, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def start_autoagent(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("w")
    return subprocess.Popen(
        [AUTOAGENT, *args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the CLI and everything in its process group (the local server it started)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def wait_for(predicate, *, timeout: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited ({process.returncode}) before {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def run_id_in(text: str) -> str:
    match = RUN_ID.search(text)
    assert match, f"no run id in output:\n{text}"
    return match.group(1)


def children(pid: int) -> list[tuple[int, str]]:
    """The live child processes of ``pid`` as (pid, command line). ``-ww``: ps cuts lines to the
    terminal's width (or $COLUMNS) otherwise, which hides the words tests look for; a zombie has
    already exited and is left out."""
    found = subprocess.run(
        ["ps", "-ww", "-o", "pid=,stat=,args=", "--ppid", str(pid)],
        capture_output=True,
        text=True,
    )
    alive = []
    for line in found.stdout.splitlines():
        child, stat, args = [*line.split(None, 2), "", ""][:3]
        if not stat.startswith("Z"):
            alive.append((int(child), args))
    return alive


def lines_in(folder: Path, name: str) -> int:
    """How many lines a step appended to ``folder/name``: its side effects, counted."""
    path = folder / name
    return len(path.read_text().splitlines()) if path.exists() else 0
