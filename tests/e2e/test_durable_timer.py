"""A durable timer survives a crash: the resume waits only for what is left of the deadline."""

from __future__ import annotations

import time

import pytest
import yaml

from tests.e2e.cli import autoagent, cli_env, kill_group, run_id_in, start_autoagent, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.integration]

WAIT = 20.0


def test_resumed_wait_ends_at_the_first_deadline(tmp_path, prefect_server):
    env = cli_env(prefect_server.env())
    done = tmp_path / "done"
    spec = tmp_path / "timer.yaml"
    steps = [
        {"id": "before", "agent": "echo", "input": {"value": 1}},
        {"id": "pause", "wait": {"seconds": WAIT}, "needs": ["before"]},
        {
            "id": "after",
            "agent": "shell",
            "needs": ["pause"],
            "input": {"command": f"date > {done}"},
        },
    ]
    spec.write_text(yaml.safe_dump({"name": "timer", "steps": steps}))

    started = time.time()
    out = tmp_path / "run.out"
    process = start_autoagent("run", str(spec), env=env, log=out)
    try:
        wait_for(
            lambda: "before" in out.read_text(), timeout=60, what="the first step", process=process
        )
        time.sleep(10)  # well inside the wait
    finally:
        kill_group(process)
    assert not done.exists()
    run_id = run_id_in(out.read_text())

    resumed_at = time.time()
    resumed = autoagent("resume", run_id, env=env, timeout=120)
    finished = time.time()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert done.exists()
    # the deadline was fixed when the first attempt reached the step, a few seconds after the
    # start; a timer that started over on resume would end a full WAIT after the resume
    elapsed, restarted = finished - started, resumed_at - started + WAIT
    assert WAIT <= elapsed < restarted - 4, f"finished {elapsed:.1f}s after the start"

    status = autoagent("status", run_id, env=env)
    assert "pause  completed" in status.stdout, status.stdout
