"""The native stack from nothing: one command to healthy (PostgreSQL database, API, background
services through Redis, a process worker), the auth string enforced, a mission run through it
with every step recorded by the services, backup and restore, and down."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from tests.e2e.cli import run_id_in
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_native_stack_from_nothing(tmp_path):
    stack = Stack(tmp_path, redis_db=9)
    try:
        started = time.monotonic()
        up = stack.up()
        assert up.returncode == 0, up.stdout + up.stderr
        print(f"nothing to healthy: {time.monotonic() - started:.1f}s")
        api = stack.client_env["PREFECT_API_URL"]
        auth = stack.client_env["PREFECT_API_AUTH_STRING"]
        assert httpx.post(f"{api}/flows/filter", json={}).status_code == 401
        header = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
        assert httpx.post(f"{api}/flows/filter", json={}, headers=header).status_code == 200
        assert stack.run("status").returncode == 0

        spec = tmp_path / "m.yaml"
        spec.write_text(
            "name: through-stack\nsteps:\n  - {id: a, agent: echo, input: {value: 1}}\n"
            "  - {id: b, agent: shell, needs: [a], input: {command: 'echo hi'}}\n"
        )
        run = stack.autoagent("run", str(spec))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "warning" not in run.stderr  # the services recorded every step's final state
        assert "b  completed  1 attempt" in run.stdout

        metrics = f"http://127.0.0.1:{stack.env['STACK_METRICS_PORT']}/metrics"
        assert f"metrics: {metrics}" in up.stdout
        deadline = time.monotonic() + 30  # the exporter counts the run within a few polls
        while 'autoagent_missions_completed_total{mission="through-stack"} 1.0' not in (
            shown := httpx.get(metrics).text
        ):
            assert time.monotonic() < deadline, shown[-2000:]
            time.sleep(1)
        prefects = httpx.get(f"{api}/metrics", headers=header)
        assert prefects.status_code == 200 and "prefect_events_observed_total" in prefects.text

        backup = tmp_path / "stack.dump"
        assert stack.run("backup", str(backup)).returncode == 0
        later = stack.autoagent("run", str(spec))
        assert later.returncode == 0
        refused = stack.run("restore", str(backup))
        assert refused.returncode == 1 and "stop the stack first" in refused.stderr
        assert stack.run("down").returncode == 0
        restored = stack.run("restore", str(backup))
        assert restored.returncode == 0, restored.stderr
        assert stack.up().returncode == 0
        listing = stack.autoagent("list")
        assert run_id_in(run.stdout) in listing.stdout  # started before the backup: still there
        assert run_id_in(later.stdout) not in listing.stdout  # after it: gone with the restore
    finally:
        stack.destroy()
    assert stack.run("status").returncode == 1
