"""The native stack (infra/prefect-server/stack.py) for tests: its own database, port and Redis
database, brought up from nothing and torn down with the database dropped."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.servers import PG_DSN, _pg, free_port

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "infra" / "prefect-server" / "stack.py"
AUTOAGENT = str(Path(sys.executable).parent / "autoagent")
PREFECT = str(Path(sys.executable).parent / "prefect")


class Stack:
    def __init__(self, workdir: Path, redis_db: int, **extra_env: str):
        self.database = f"autoagent_stack_{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "STACK_DIR": str(workdir / "stack"),
            "STACK_PG": PG_DSN.rsplit("/", 1)[0],
            "STACK_DB": self.database,
            "STACK_PORT": str(free_port()),
            "STACK_METRICS_PORT": str(free_port()),
            "STACK_REDIS": f"redis://127.0.0.1:6379/{redis_db}",
            **extra_env,
        }
        self.env.pop("PREFECT_API_URL", None)
        self.client_env: dict[str, str] = {}
        self.prefect = PREFECT

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(STACK), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def up(self) -> subprocess.CompletedProcess:
        import redis

        redis.Redis.from_url(self.env["STACK_REDIS"]).flushdb()
        result = self.run("up")
        self.client_env = {**self.env, **_exports(result.stdout)}
        return result

    def bring_up(self, *, setup: list[str] | None = None, deploy: bool = False) -> None:
        """Up from nothing, then `autoagent server setup` and `prefect deploy --all` if asked."""
        steps = [self.up()]
        if setup is not None:
            steps.append(self.autoagent("server", "setup", *setup))
        if deploy:
            steps.append(self.client(self.prefect, "--no-prompt", "deploy", "--all"))
        for step in steps:
            assert step.returncode == 0, step.stdout + step.stderr

    def autoagent(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return self.client(AUTOAGENT, *args, timeout=timeout)

    def client(self, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return client_command(argv, self.client_env, timeout)

    def pid(self, name: str) -> int:
        return int((Path(self.env["STACK_DIR"]) / f"{name}.pid").read_text())

    def destroy(self) -> None:
        self.run("down")
        _pg(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def _exports(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            found[key] = value.strip("'")
    return found


def stack_fixture(name: str, redis_db: int, *, setup: list[str] | None = None, **env: str):
    """A module-scoped fixture: a stack brought up, set up if asked, deployed; then destroyed."""
    import pytest

    @pytest.fixture(scope="module")
    def stack(tmp_path_factory):
        made = Stack(tmp_path_factory.mktemp(name), redis_db, **env)
        try:
            made.bring_up(setup=setup, deploy=True)
            yield made
        finally:
            made.destroy()

    return stack


def client_command(
    argv: tuple[str, ...] | list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess:
    """A command run as a client of a stack (or the cluster), from the repository root."""
    return subprocess.run(
        list(argv), env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
