"""Real services for the test session: a Prefect server on a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

PG_DSN = os.environ.get("AUTOAGENT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg(sql: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


@dataclass
class PrefectServer:
    url: str
    database: str
    process: subprocess.Popen
    home: Path
    log: Path

    def env(self) -> dict[str, str]:
        """Environment for a client process (CLI) that talks to this server."""
        return {"PREFECT_API_URL": self.url}

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        with contextlib.suppress(Exception):
            _pg(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def start_prefect_server(workdir: Path, *, timeout: float = 120.0) -> PrefectServer:
    """Start ``prefect server start`` on a fresh database and wait until it answers /health."""
    database = f"autoagent_test_{uuid.uuid4().hex[:10]}"
    _pg(f'CREATE DATABASE "{database}"')
    port = free_port()
    home = workdir / "prefect-server-home"
    home.mkdir(parents=True, exist_ok=True)
    log = workdir / "prefect-server.log"
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"{base}/{database}",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true",  # the browser tests answer approval forms in the UI
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
        "DO_NOT_TRACK": "1",
    }
    env.pop("PREFECT_API_URL", None)
    prefect = Path(sys.executable).parent / "prefect"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    server = PrefectServer(url, database, process, home, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"prefect server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"prefect server not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


def stop_local_servers(*roots: Path) -> list[Path]:
    """Stop the local Prefect servers recorded under ``roots`` (autoagent.server.local); the
    homes they belonged to."""
    from autoagent.server import local as local_server

    stopped = []
    for root in roots:
        for record in Path(root).rglob(local_server.RECORD):
            server, _ = local_server.stop(record.parent)
            if server is not None:
                stopped.append(record.parent)
    return stopped
