"""A batched fan-out survives kill -9: a 500-item fan-out (batches of 50) killed mid-way and
resumed runs every item, and no item that had finished before the kill runs again (counted by
each item's side effect)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.e2e.cli import autoagent, cli_env, kill_group, run_id_in, start_autoagent, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.integration]

ITEMS = 500
WIDTH = 8  # items under way at once: at most this many can be cut off by the kill


def lines(log: Path) -> list[int]:
    return [int(x) for x in log.read_text().split()] if log.exists() else []


def test_kill_9_mid_fan_out_then_resume_runs_no_finished_item_again(tmp_path, prefect_server):
    log = tmp_path / "effects.log"
    spec = tmp_path / "wide.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "wide-fan-out",
                "params": {"xs": list(range(ITEMS))},
                "steps": [
                    {
                        "id": "fan",
                        "agent": "shell",
                        "for_each": "{{ params.xs }}",
                        "input": {"command": f"sleep 0.05; echo {{{{ item }}}} >> {log}; echo ok"},
                    },
                    {
                        "id": "count",
                        "agent": "echo",
                        "needs": ["fan"],
                        "input": {"value": "{{ steps.fan.output | length }}"},
                    },
                ],
            }
        )
    )
    env = cli_env(
        {
            **prefect_server.env(),
            "AUTOAGENT_FOR_EACH_BATCH": "50",
            "AUTOAGENT_MAX_PARALLEL_STEPS": str(WIDTH),
        }
    )
    out = tmp_path / "run.out"
    process = start_autoagent("run", str(spec), env=env, log=out)
    try:
        wait_for(lambda: len(lines(log)) >= 200, timeout=180, what="200 items", process=process)
    finally:
        kill_group(process)
    run_id = run_id_in(out.read_text())
    before = lines(log)
    assert 200 <= len(before) < ITEMS and len(set(before)) == len(before)

    resumed = autoagent("resume", run_id, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    ran = Counter(lines(log))
    assert set(ran) == set(range(ITEMS))  # every item ran
    again = sorted(i for i, n in ran.items() if n > 1)
    assert all(ran[i] == 2 for i in again)
    # only items under way at the kill ran twice: the last few to finish, never an earlier one
    assert len(again) <= WIDTH, again
    assert set(again) <= set(before[-2 * WIDTH :]), (again, before[-2 * WIDTH :])

    status = autoagent("status", run_id, env=env)
    assert status.returncode == 0, status.stderr
    assert "Completed" in status.stdout
    assert "count  completed" in status.stdout
