"""The servers the benchmark runs against, started and stopped by the benchmark itself.

Every system is measured against a real server on this machine, never an embedded one: a Prefect
server on a fresh PostgreSQL database (what a self-hosted AutoAgent user runs), Temporal's dev
server (in-memory), and a fresh PostgreSQL database for DBOS's system tables. Each server runs in
its own session so that Ctrl-C in the terminal reaches only the benchmark, which then stops them
by process id; databases it created are dropped at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
# the Redis database of the benchmark's stack (the test suite uses 9 to 14); flushed at each start
STACK_REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/15")
STACK = Path(__file__).resolve().parents[1] / "infra" / "prefect-server" / "stack.py"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_url(database: str, driver: str = "postgresql") -> str:
    return f"{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=10
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


RUN_QUIET_LIMIT = 5.0
"""The longest wait for an idle machine before a run (a fan-out of 200 leaves ~3 s behind)."""
ROUND_QUIET_LIMIT = 30.0
"""The longest wait after a round that resumed: plain Prefect's resume runs its 1,000 tasks
again, leaving another ~30 s of ingestion behind."""
RESUME_QUIET_LIMIT = 45.0
"""The longest wait between a resume scenario's failed first run and its resume: the server
ingests ~3,000 task-run events from that first run (~30 s of its CPU on 2 cores)."""


def wait_until_quiet(
    busy_below: float = 0.2, window: float = 0.3, limit: float = RUN_QUIET_LIMIT
) -> float:
    """Wait until the machine is nearly idle (under ``busy_below`` of all cores over ``window``
    seconds), at most ``limit`` seconds; the seconds waited.

    A Prefect server goes on ingesting a run's events for seconds after the run returns (a
    fan-out of 200 leaves ~3 s of server CPU behind): without this, that backlog lands on
    whichever run comes next, of any system.
    """
    started = time.monotonic()
    while time.monotonic() - started < limit:
        busy0, total0 = _cpu_times()
        time.sleep(window)
        busy1, total1 = _cpu_times()
        if total1 > total0 and (busy1 - busy0) / (total1 - total0) < busy_below:
            break
    return time.monotonic() - started


def create_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))


def drop_database(name: str) -> None:
    with contextlib.suppress(Exception):
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Service:
    """One server process in its own session, with its log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    _log: object = field(default=None, repr=False)

    def start(self) -> None:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group this service leads, then SIGKILL what is left."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None


def _bin(name: str) -> str:
    """A console script of this virtualenv, else one on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name!r} is not installed (pip install the 'bench' extra)")
    return found


def start_prefect(home: Path, database: str, log_dir: Path, timeout: float = 120.0) -> Service:
    """`prefect server start` on PostgreSQL; returns once /api/health answers."""
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": pg_url(database, "postgresql+asyncpg"),
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("PREFECT_API_URL", None)
    service = Service(
        "prefect",
        [_bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        log_dir / "prefect-server.log",
    )
    service.start()
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(f"prefect server exited:\n{service.log_tail()}")
        with (
            contextlib.suppress(Exception),
            urllib.request.urlopen(f"{api}/health", timeout=2) as response,
        ):
            if response.status == 200:
                service.env["PREFECT_API_URL"] = api
                return service
        time.sleep(0.5)
    service.stop()
    raise RuntimeError(f"prefect server did not answer /api/health in {timeout:.0f}s")


@dataclass
class PrefectStack:
    """The self-hosted stack of ``make stack-up`` (infra/prefect-server/stack.py), on its own
    database, port and Redis database: API, services and process worker, each its own process."""

    env: dict[str, str]
    log_dir: Path

    def _stack(self, action: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(STACK), action],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def log_tail(self, lines: int = 15) -> str:
        logs = sorted(Path(self.env["STACK_DIR"]).glob("*.log"))
        return "\n".join(
            f"{log.name}: " + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
            for log in logs
        )

    def stop(self, grace: float = 10.0) -> None:
        self._stack("down", timeout=120)
        for log in Path(self.env["STACK_DIR"]).glob("*.log"):
            with contextlib.suppress(OSError):
                shutil.copy(log, self.log_dir / f"stack-{log.name}")
        _flush_redis(self.env["STACK_REDIS"])


def _flush_redis(url: str) -> None:
    """Empty the stack's Redis database: streams of an earlier run must not reach this one."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def start_prefect_stack(
    home: Path, database: str, log_dir: Path, timeout: float = 180.0
) -> PrefectStack:
    """The production stack on PostgreSQL (no Docker worker); returns once the API is healthy.

    Its client env (URL, auth string) is in ``.env``, as for :func:`start_prefect`."""
    port = free_port()
    env = {
        **os.environ,
        "STACK_DIR": str(home),
        "STACK_PG": f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}",
        "STACK_DB": database,
        "STACK_PORT": str(port),
        "STACK_METRICS_PORT": str(free_port()),
        "STACK_REDIS": STACK_REDIS,
        "STACK_DOCKER": "0",
        "STACK_HEALTH_TIMEOUT": str(timeout),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("PREFECT_API_URL", None)
    _flush_redis(STACK_REDIS)
    stack = PrefectStack(env, log_dir)
    done = stack._stack("up", timeout=timeout + 30)
    if done.returncode != 0:
        stack.stop()
        raise RuntimeError(f"stack.py up failed:\n{done.stderr[-2000:]}\n{stack.log_tail()}")
    auth = (home / "auth").read_text().strip()
    stack.env.update(
        {"PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_API_AUTH_STRING": auth}
    )
    return stack


def start_temporal(log_dir: Path, timeout: float = 60.0) -> tuple[Service, str]:
    """`temporal server start-dev` (in-memory, no UI); returns it and its gRPC address."""
    port = free_port()
    argv = [
        _bin("temporal"),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--log-level",
        "warn",
    ]
    service = Service("temporal", argv, dict(os.environ), log_dir / "temporal-server.log")
    service.start()
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(f"temporal dev server exited:\n{service.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return service, address
        time.sleep(0.3)
    service.stop()
    raise RuntimeError(f"temporal dev server did not listen on {address} in {timeout:.0f}s")


# -- the CPU a server spent, read from /proc ------------------------------------------------------
TICK = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int, children: bool = False) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    own = int(fields[11]) + int(fields[12])  # utime, stime
    return own + (int(fields[13]) + int(fields[14]) if children else 0)  # + cutime, cstime


def _group(leader: int) -> list[int]:
    """Every process of the group ``leader`` leads."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == leader:
                found.append(int(entry.name))
    return found


def _postgres() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if name.startswith("postgres"):
                found.append(int(entry.name))
    return found


def stack_cpu(stack_dir: Path) -> dict[str, float]:
    """Seconds of CPU so far: the API's and services' groups, PostgreSQL's processes."""
    out = {n: group_cpu(int((stack_dir / f"{n}.pid").read_text())) for n in ("api", "services")}
    out["postgres"] = postgres_cpu()
    return out


def group_cpu(leader: int) -> float:
    """Seconds of CPU so far of the process group ``leader`` leads (its reaped children too)."""
    return sum(_ticks(pid, children=True) for pid in _group(leader)) / TICK


def postgres_cpu() -> float:
    """Seconds of CPU so far of this machine's PostgreSQL (live backends, and exited ones
    through the postmaster's children times)."""
    postmaster = min(_postgres(), default=0)
    found = sum(_ticks(pid) for pid in _postgres() if pid != postmaster)
    return (found + _ticks(postmaster, children=True)) / TICK
