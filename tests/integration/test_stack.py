"""The native stack from nothing: one command to healthy (PostgreSQL database, API, background
services through Redis, a process worker), the auth string enforced, a mission run through it
with every step recorded by the services, backup and restore, and down."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli import run_id_in
from tests.servers import PG_DSN, _pg, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "infra" / "prefect-server" / "stack.py"
AUTOAGENT = str(Path(sys.executable).parent / "autoagent")


def _stack(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(STACK), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _autoagent(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AUTOAGENT, *args], env=env, capture_output=True, text=True, timeout=180)


def _exports(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            found[key] = value.strip("'")
    return found


def test_native_stack_from_nothing(tmp_path):
    database = f"autoagent_stack_{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        **os.environ,
        "STACK_DIR": str(tmp_path / "stack"),
        "STACK_PG": PG_DSN.rsplit("/", 1)[0],
        "STACK_DB": database,
        "STACK_PORT": str(port),
        "STACK_REDIS": "redis://127.0.0.1:6379/9",
        "STACK_POOL": f"pool-{uuid.uuid4().hex[:6]}",
    }
    env.pop("PREFECT_API_URL", None)
    import redis

    redis.Redis.from_url(env["STACK_REDIS"]).flushdb()
    try:
        started = time.monotonic()
        up = _stack(env, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        print(f"nothing to healthy: {time.monotonic() - started:.1f}s")
        client_env = {**env, **_exports(up.stdout)}
        api, auth = client_env["PREFECT_API_URL"], client_env["PREFECT_API_AUTH_STRING"]

        assert httpx.post(f"{api}/flows/filter", json={}).status_code == 401
        header = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
        assert httpx.post(f"{api}/flows/filter", json={}, headers=header).status_code == 200
        assert _stack(env, "status").returncode == 0

        spec = tmp_path / "m.yaml"
        spec.write_text(
            "name: through-stack\nsteps:\n  - {id: a, agent: echo, input: {value: 1}}\n"
            "  - {id: b, agent: shell, needs: [a], input: {command: 'echo hi'}}\n"
        )
        run = _autoagent(client_env, "run", str(spec))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "warning" not in run.stderr  # the services recorded every step's final state
        assert "b  completed  1 attempt" in run.stdout

        backup = tmp_path / "stack.dump"
        assert _stack(env, "backup", str(backup)).returncode == 0
        later = _autoagent(client_env, "run", str(spec))
        assert later.returncode == 0
        refused = _stack(env, "restore", str(backup))
        assert refused.returncode == 1 and "stop the stack first" in refused.stderr
        assert _stack(env, "down").returncode == 0
        restored = _stack(env, "restore", str(backup))
        assert restored.returncode == 0, restored.stderr
        assert _stack(env, "up").returncode == 0
        listing = _autoagent(client_env, "list")
        first, second = run_id_in(run.stdout), run_id_in(later.stdout)
        assert first in listing.stdout  # started before the backup: still there
        assert second not in listing.stdout  # started after it: gone with the restore
    finally:
        _stack(env, "down")
        _pg(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    assert _stack(env, "status").returncode == 1
