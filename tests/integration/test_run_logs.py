"""Why every step is in its state, where people look: one line per event in the mission run's logs
on the server (as the Prefect UI shows them), and the report of a run that waits."""

from __future__ import annotations

import contextvars
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from prefect import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowFilter,
    FlowFilterName,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogWorker

from autoagent import approval, mission
from autoagent.api import answers, runs
from autoagent.server import inputs
from tests.background import Background
from tests.e2e.cli import wait_for
from tests.missions import run_mission

pytestmark = pytest.mark.integration


def _logs(flow_run_id, until: Callable[[list[str]], bool], timeout: float = 30) -> list[str]:
    """The run's log lines once ``until`` holds of them (they reach the server in batches)."""
    APILogWorker.drain_all(timeout=10)
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            found = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
        lines = [log.message for log in found]
        if until(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def test_skipped_failed_not_run_and_compensating_each_say_so_once(prefect_api):
    run = run_mission(
        {
            "name": f"logs-{uuid.uuid4().hex[:6]}",
            "params": {"flag": False},
            "steps": [
                {
                    "id": "book",
                    "agent": "echo",
                    "input": {"value": 1},
                    "compensate": {"agent": "echo", "input": {"value": "undo"}},
                },
                {"id": "c", "agent": "echo", "when": "params.flag", "input": {"value": 2}},
                {"id": "bad", "agent": "fail", "needs": ["book"], "input": {"message": "nope"}},
                {"id": "after", "agent": "echo", "needs": ["bad"], "input": {"value": 3}},
            ],
        }
    )
    assert run.state.is_failed()
    lines = _logs(run.flow_run.id, lambda found: any("compensating" in m for m in found))
    assert "c skipped: its `when` (params.flag) was false" in lines
    assert [m for m in lines if m.startswith("bad ")] == ["bad failed (fail): nope"]
    assert "after not run: bad failed" in lines
    assert "compensating book (newest first)" in lines
    assert not [m for m in lines if "Traceback" in m], lines  # an expected failure: no traceback
    assert not [m for m in lines if m.startswith("Finished in state Cancelled")], lines


def test_a_waiting_approval_says_how_to_answer_and_who_answered(prefect_api):
    name = f"asks-{uuid.uuid4().hex[:6]}"
    run = Background(
        {
            "name": name,
            "steps": [
                {
                    "id": "review",
                    "approval": {"title": "Ship it?", "fields": {"ticket": {"type": "int"}}},
                },
                {"id": "after", "agent": "echo", "needs": ["review"], "input": {"value": 1}},
            ],
        }
    )
    run.until_waiting("review")
    lines = _logs(run.flow_run.id, lambda found: any("waits for approval" in m for m in found))
    waits = [m for m in lines if m.startswith("review waits for approval: 'Ship it?'")]
    assert len(waits) == 1, lines
    assert f"autoagent approve {run.id} --step review --field ticket=<integer>" in waits[0]
    with get_client(sync_client=True) as client:  # the report says where the mission stands
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
    assert any("`review` | waiting" in (a.data or "") for a in artifacts), artifacts
    answers.approve(run.id, "review", comment="go", fields={"ticket": 5}, by="alice@example")
    done = run.finish()
    assert done.state.is_completed()
    lines = _logs(run.flow_run.id, lambda found: any("approved by" in m for m in found))
    assert "review approved by alice@example: 'go' (ticket=5)" in lines


def test_a_resumed_run_says_it_runs_again(prefect_api, tmp_path):
    marker = tmp_path / "ready"
    run = run_mission(
        {
            "name": f"again-{uuid.uuid4().hex[:6]}",
            "steps": [
                {
                    "id": "once",
                    "agent": "shell",
                    "input": {"command": f"test -f {marker}"},
                }
            ],
        }
    )
    assert run.state.is_failed()
    marker.touch()
    assert runs.execute(runs.prepare_resume(run.id)).ok
    lines = _logs(run.flow_run.id, lambda found: any("run again" in m for m in found))
    assert any(
        m.startswith("run again (after a crash, a failure or a cancel, attempt 2)") for m in lines
    )


def test_an_approval_in_a_code_mission_says_it_waits_once(prefect_api):
    name = f"code-asks-{uuid.uuid4().hex[:6]}"

    @mission(name=name)
    def asks() -> Any:
        return approval("Deploy?", step="gate", timeout=120)  # with a timeout: waits in-process

    ended: list[Any] = []
    context = contextvars.copy_context()  # the test's API settings live in a context variable
    thread = threading.Thread(
        target=context.run, args=(lambda: ended.append(asks(return_state=True)),), daemon=True
    )
    thread.start()

    def run_id() -> str | None:
        with get_client(sync_client=True) as client:
            found = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))
        return next((str(r.id) for r in found if inputs.waiting(r.id)), None)

    wait_for(lambda: run_id() is not None, timeout=60, what="the approval's wait marker")
    root = run_id() or ""
    lines = _logs(uuid.UUID(root), lambda found: any("waits for approval" in m for m in found))
    waits = [m for m in lines if m.startswith("gate waits for approval: 'Deploy?'")]
    assert len(waits) == 1, lines
    assert f"autoagent approve {root} --step gate" in waits[0]
    answers.approve(root, "gate", comment="ok")
    thread.join(60)
    assert ended and ended[0].is_completed(), ended
    assert inputs.waiting(uuid.UUID(root)) == []
    lines = _logs(uuid.UUID(root), lambda found: any("gate approved" in m for m in found))
    assert len([m for m in lines if m.startswith("gate waits for approval")]) == 1, lines
