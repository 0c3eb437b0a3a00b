"""The embedded default: one local Prefect server per Prefect home, started in the background by
the first command that needs a server, then found again by every later command, notebook and test
on that home.

Prefect's per-process temporary server costs 15-28 s a command on a small machine and drops the
task-run records still in flight when its process exits. Prefect's ``server start --background``
pipes the server's output into a pipe nobody reads (a chatty server blocks once it fills) and
leaves it in the caller's process group, so a Ctrl-C or a ``kill`` of the group ends it. So
AutoAgent starts the same app (uvicorn on ``prefect.server.api.server:create_app``, SQLite under
the home) in a session of its own, logging to a file, and records it in
``<home>/autoagent-server.json``: its pid with the process's start time (a reused pid is never
taken for it), its port and its log. A lock file serializes starters, so two commands started
together share one server. Nothing here imports Prefect.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autoagent import processes
from autoagent.errors import ServerError
from autoagent.prefect_settings import prefect_home
from autoagent.settings import get_settings

HOST = "127.0.0.1"
PREFERRED_PORT = 4200
"""Prefect's usual port; when something else holds it, a free one is chosen (and said)."""
RECORD = "autoagent-server.json"
LOCK = "autoagent-server.lock"
LOG = "autoagent-server.log"
# Prefect's task-run recorder writes one state event per transaction by default (~40 ms of server
# CPU per task run, measured); batches of up to 200, flushed every second, cut that to ~15 ms. A
# step's state shows in the UI at most a second later. The environment can override each.
RECORDER_BATCHING = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
}
Status = Callable[[str], contextlib.AbstractContextManager[Any]]
"""Shows a line while a slow step runs (the CLI passes a spinner; the default prints it)."""


@dataclass(frozen=True)
class LocalServer:
    pid: int
    started: str
    port: int
    home: str
    log: str

    @property
    def url(self) -> str:
        """The API's URL, as PREFECT_API_URL wants it."""
        return f"http://{HOST}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def alive(self) -> bool:
        return processes.start_time(self.pid) == self.started

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=timeout) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError, ValueError):
            return False


def find(where: Path | None = None) -> LocalServer | None:
    """The local server of this home if its process still runs (healthy or still starting)."""
    server, _ = _recorded(where or prefect_home())
    return server


def ensure(say: Callable[[str], None], status: Status | None = None) -> LocalServer:
    """The running local server of this home, started first if there is none.

    ``say`` gets the one-line notices (a stale record cleared, another port chosen, the server
    started); ``status`` shows a line while the server starts (a database is built on first use).
    Raises ServerError when it cannot start or never becomes healthy.
    """
    where = prefect_home()
    where.mkdir(parents=True, exist_ok=True)
    timeout = get_settings().server_start_timeout
    with _locked(where):
        server, stale = _recorded(where)
        if stale:
            say(f"{stale}: starting a new one")
        if server is not None:
            if server.healthy() or _wait_healthy(server, timeout, status, "the local server"):
                return server
            raise ServerError(_unhealthy(server, timeout))
        port = _choose_port(say)
        first_use = not (where / "prefect.db").exists()
        server = _spawn(where, port)
        (where / RECORD).write_text(json.dumps(asdict(server)))
        what = (
            "building the local Prefect database (first use)"
            if first_use
            else "starting the local Prefect server"
        )
        began = time.monotonic()
        if not _wait_healthy(server, timeout, status, what):
            if not server.alive():
                (where / RECORD).unlink(missing_ok=True)
                raise ServerError(
                    f"the local Prefect server exited while starting; its log: {server.log}"
                    f"{_log_tail(server)}"
                )
            raise ServerError(_unhealthy(server, timeout))
        say(
            f"local Prefect server ready in {time.monotonic() - began:.1f}s at {server.ui_url}"
            " (it keeps running for later commands: `autoagent server stop` ends it)"
        )
        return server


def stop(where: Path | None = None, grace: float = 15.0) -> tuple[LocalServer | None, str | None]:
    """Stop this home's local server: SIGTERM to its process group, SIGKILL after ``grace``.
    Returns the server stopped (None if none ran) and the notice of a stale record cleared."""
    where = where or prefect_home()
    where.mkdir(parents=True, exist_ok=True)
    with _locked(where):
        server, stale = _recorded(where)
        if server is not None:
            _end(server, grace)
        (where / RECORD).unlink(missing_ok=True)
        return server, stale


def _recorded(where: Path) -> tuple[LocalServer | None, str | None]:
    """The recorded server if its process lives; else None and, for a record left by a server
    that is gone, the notice saying so (the record is removed)."""
    path = where / RECORD
    try:
        server = LocalServer(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError, TypeError):
        path.unlink(missing_ok=True)
        return None, f"removed an unreadable local server record: {path}"
    if server.alive():
        return server, None
    path.unlink(missing_ok=True)
    return None, f"the local Prefect server recorded in {path} (pid {server.pid}) is gone"


def _choose_port(say: Callable[[str], None]) -> int:
    wanted = get_settings().server_port
    if wanted is not None:
        if not _free(wanted):
            raise ServerError(
                f"port {wanted} (AUTOAGENT_SERVER_PORT) is taken by another program: stop it, or"
                " set AUTOAGENT_SERVER_PORT to a free port"
            )
        return wanted
    if _free(PREFERRED_PORT):
        return PREFERRED_PORT
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    say(
        f"port {PREFERRED_PORT} is taken by another program: the local Prefect server of"
        f" {prefect_home()} listens on {port} instead (AUTOAGENT_SERVER_PORT chooses one)"
    )
    return port


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _spawn(where: Path, port: int) -> LocalServer:
    log = where / LOG
    url = f"http://{HOST}:{port}/api"
    env = {
        **{k: v for k, v in os.environ.items() if k != processes.OWNER_VARIABLE},
        **{k: os.environ.get(k, v) for k, v in RECORDER_BATCHING.items()},
        "PREFECT_HOME": str(where),
        "PREFECT_SERVER_API_HOST": HOST,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
        "PREFECT__SERVER_FINAL": "1",
    }
    env.pop("PREFECT_API_URL", None)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting on {url}\n".encode())
        out.flush()
        process = subprocess.Popen(
            command,
            cwd=where,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the command, and a kill of its group
        )
    started = processes.start_time(process.pid) or ""
    return LocalServer(process.pid, started, port, str(where), str(log))


def _wait_healthy(server: LocalServer, timeout: float, status: Status | None, what: str) -> bool:
    show = status or _print_status
    deadline = time.monotonic() + timeout
    with show(f"{what} at {server.ui_url}…"):
        while time.monotonic() < deadline:
            if server.healthy():
                return True
            if not server.alive():
                return False
            time.sleep(0.2)
    return server.healthy()


@contextlib.contextmanager
def _print_status(line: str) -> Iterator[None]:
    print(line, file=sys.stderr, flush=True)
    yield


def _unhealthy(server: LocalServer, timeout: float) -> str:
    return (
        f"the local Prefect server (pid {server.pid}) does not answer at {server.url} after"
        f" {timeout:g}s (AUTOAGENT_SERVER_START_TIMEOUT); its log: {server.log}. Restart it with"
        " `autoagent server stop`"
    )


def _log_tail(server: LocalServer, lines: int = 5) -> str:
    try:
        tail = Path(server.log).read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return "".join(f"\n  {line}" for line in tail)


def _end(server: LocalServer, grace: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while server.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if server.alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        while server.alive():
            time.sleep(0.05)


@contextlib.contextmanager
def _locked(where: Path) -> Iterator[None]:
    with (where / LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
