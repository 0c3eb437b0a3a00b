"""Compensations run at most once, even across a crash: kill -9 during one, resume, and it is
reported as interrupted instead of running again, while the others still run."""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.cli import autoagent, cli_env, kill_group, run_id_in, start_autoagent, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_a_compensation_cut_by_a_crash_is_not_repeated(tmp_path, prefect_server):
    env = cli_env(prefect_server.env())
    log, started = tmp_path / "undo.log", tmp_path / "undo-pay.started"

    def undo(name: str, extra: str = "") -> dict:
        command = f"echo start-{name} >> {log}; {extra} echo done-{name} >> {log}"
        return {"agent": "shell", "input": {"command": command}}

    steps = [
        {"id": "book", "agent": "echo", "input": {"value": 1}, "compensate": undo("book")},
        {
            "id": "pay",
            "agent": "echo",
            "needs": ["book"],
            "input": {"value": 2},
            "compensate": undo("pay", f"touch {started}; sleep 60;"),
        },
        {"id": "ship", "agent": "fail", "needs": ["pay"], "input": {"message": "no stock"}},
    ]
    spec = tmp_path / "saga.yaml"
    spec.write_text(yaml.safe_dump({"name": "saga-crash", "steps": steps}))
    out = tmp_path / "run.out"
    process = start_autoagent("run", str(spec), env=env, log=out)
    try:
        wait_for(started.exists, timeout=90, what="the compensation of pay", process=process)
    finally:
        kill_group(process)
    run_id = run_id_in(out.read_text())

    resumed = autoagent("resume", run_id, env=env, timeout=180)
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    assert "interrupted by a crash; not run again" in resumed.stdout + resumed.stderr
    assert log.read_text().split() == ["start-pay", "start-book", "done-book"]


def test_a_resumed_mission_still_compensates_a_group_completed_before_the_crash(
    tmp_path, prefect_server
):
    """A group done before a crash is not run again on resume, but the compensations of its steps
    are still known: the mission failing afterwards undoes them, once."""
    env = cli_env(prefect_server.env())
    log, started = tmp_path / "undo.log", tmp_path / "hold.started"
    book = {
        "id": "book",
        "agent": "shell",
        "input": {"command": f"echo book >> {log}"},
        "compensate": {"agent": "shell", "input": {"command": f"echo unbook >> {log}"}},
    }
    hold = f"if [ -f {started} ]; then exit 0; fi; touch {started}; sleep 60"
    steps = [
        {"id": "trip", "steps": [book]},
        {"id": "hold", "agent": "shell", "needs": ["trip"], "input": {"command": hold}},
        {"id": "ship", "agent": "fail", "needs": ["hold"], "input": {"message": "no stock"}},
    ]
    spec = tmp_path / "group-saga.yaml"
    spec.write_text(yaml.safe_dump({"name": "group-saga", "steps": steps}))
    out = tmp_path / "run.out"
    process = start_autoagent("run", str(spec), env=env, log=out)
    try:
        wait_for(started.exists, timeout=90, what="the step after the group", process=process)
    finally:
        kill_group(process)
    run_id = run_id_in(out.read_text())

    resumed = autoagent("resume", run_id, env=env, timeout=180)
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    assert log.read_text().split() == ["book", "unbook"]
