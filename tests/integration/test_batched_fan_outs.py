"""Large fan-outs run in batch task runs: every item once, in order, retried by the step's
policy, recorded under its own key, and shown per item in status (engine/batches.py)."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from autoagent.api import runs
from autoagent.server import status
from autoagent.server.reader import open_reader
from tests.missions import read_status, run_mission

pytestmark = pytest.mark.integration

TOOL = "tests.integration.batch_tools:square"


def _name(what: str) -> str:
    return f"batch-{what}-{uuid.uuid4().hex[:8]}"


def fan_spec(name: str, count: int, log: Path, **tool_args: Any) -> dict[str, Any]:
    return {
        "name": name,
        "params": {"xs": list(range(count))},
        "steps": [
            {
                "id": "fan",
                "agent": "python",
                "for_each": "{{ params.xs }}",
                "retries": 2,
                "retry_backoff": {"base_seconds": 0.05, "factor": 2},
                "retry_on": ["timeout"],
                "input": {"function": TOOL, "args": ["{{ item }}", str(log)], "kwargs": tool_args},
            },
            {
                "id": "total",
                "agent": "echo",
                "needs": ["fan"],
                "input": {"value": "{{ steps.fan.output | length }}"},
            },
        ],
    }


def task_run_names(run_id: str) -> list[str]:
    with open_reader() as reader:
        snapshot = status.read(reader, run_id)
        return [t.name for t in reader.task_runs([r.id for r in snapshot.flow_runs])]


def artifacts(run_id: str) -> list[dict[str, Any]]:
    with open_reader() as reader:
        body = {"artifacts": {"flow_run_id": {"any_": [run_id]}}, "limit": 200}
        return reader._call("POST", "/artifacts/filter", body=body).json()


def effects(log: Path) -> Counter:
    return Counter(int(line) for line in log.read_text().split())


def test_500_items_over_the_threshold_run_in_batches_once_each_in_order(
    prefect_api, tmp_path, batches_of_50
):
    log = tmp_path / "effects.log"
    run = run_mission(fan_spec(_name("500"), 500, log, flaky=137))
    assert run.state.is_completed(), run.state.message
    outputs = run.outputs()
    assert outputs["fan"] == [i * i for i in range(500)]  # in item order
    assert outputs["total"] == 500
    ran = effects(log)
    assert ran == Counter({i: 2 if i == 137 else 1 for i in range(500)})  # 137 retried once

    names = task_run_names(run.id)
    batches = sorted(n for n in names if n.startswith("fan[") and ":" in n)
    assert len(batches) == 10 and "fan[0:50]" in batches and "fan[450:500]" in batches
    assert not [n for n in names if n.startswith("fan[") and ":" not in n]  # no task run per item

    fan = run.step("fan")
    assert fan.state == "completed" and len(fan.children) == 500
    flaky = run.step("fan[137]")
    assert (flaky.state, flaky.attempts) == ("completed", 2)
    assert {c.attempts for c in fan.children if c.path != "fan[137]"} == {1}
    assert all(c.duration is not None for c in fan.children)

    made = artifacts(run.id)
    tables = [a for a in made if a["type"] == "table"]
    assert len(tables) == 10
    progress = [a for a in made if a["type"] == "progress"]
    assert len(progress) == 1 and float(progress[0]["data"]) == 100.0
    assert "500 of 500 items done, 1 retried" in progress[0]["description"]


def test_a_failed_item_fails_the_fan_out_and_a_resume_runs_only_it(
    prefect_api, tmp_path, batches_of_50
):
    log, marker = tmp_path / "effects.log", tmp_path / "marker"
    run = run_mission(fan_spec(_name("resume"), 120, log, broken=77, marker=str(marker)))
    assert run.state.is_failed()
    fan = run.step("fan")
    assert fan.state == "failed" and "item 77 is broken" in fan.error
    broken = run.step("fan[77]")
    assert (broken.state, broken.attempts) == ("failed", 1)  # `fail` is not in retry_on
    assert run.step("fan[76]").state == "completed"
    assert effects(log) == Counter(range(120))

    marker.touch()
    again = runs.prepare_resume(run.id)
    finished = runs.execute(again)
    assert finished.ok, finished.state.message
    assert finished.outputs()["fan"] == [i * i for i in range(120)]
    assert effects(log) == Counter({i: 2 if i == 77 else 1 for i in range(120)})
    # the two batches that completed were read back whole; the third ran item 77 only
    names = task_run_names(run.id)
    assert Counter(n for n in names if n.startswith("fan[")) == Counter(
        {"fan[0:50]": 1, "fan[50:100]": 2, "fan[100:120]": 1}
    )
    after = read_status(run.id)
    item = after.find("fan[77]")
    assert item is not None and (item.state, item.attempts) == ("completed", 1)
    cached = after.find("fan[3]")
    assert cached is not None and cached.state == "completed" and cached.attempts == 1


def test_below_the_threshold_each_item_is_its_own_task_run(prefect_api, tmp_path, batches_of_50):
    log = tmp_path / "effects.log"
    run = run_mission(fan_spec(_name("small"), 50, log))
    assert run.state.is_completed()
    names = task_run_names(run.id)
    assert sorted(n for n in names if n.startswith("fan[")) == sorted(
        f"fan[{i}]" for i in range(50)
    )
    assert not [a for a in artifacts(run.id) if a["type"] in ("table", "progress")]


def test_a_step_sets_its_own_batch_size_and_1_keeps_a_task_run_per_item(prefect_api, tmp_path):
    log = tmp_path / "effects.log"
    spec = fan_spec(_name("own"), 30, log)
    spec["steps"][0]["for_each_batch"] = 8
    run = run_mission(spec)
    assert run.state.is_completed()
    assert sorted(n for n in task_run_names(run.id) if n.startswith("fan[")) == sorted(
        ["fan[0:8]", "fan[8:16]", "fan[16:24]", "fan[24:30]"]
    )
    one = fan_spec(_name("one"), 120, tmp_path / "one.log")
    one["steps"][0]["for_each_batch"] = 1
    run = run_mission(one)
    assert run.state.is_completed()
    assert len([n for n in task_run_names(run.id) if n.startswith("fan[")]) == 120
