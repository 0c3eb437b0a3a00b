"""Events on a real Prefect server on PostgreSQL: a signal sent during the wait, one sent before
the mission gets there (kept, consumed once), a timeout, refused signals."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from autoagent.api import answers
from autoagent.errors import AutoAgentError, RunError
from autoagent.server import inputs
from tests.background import Background
from tests.missions import run_mission

pytestmark = pytest.mark.integration


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _mission(before: list[dict] | None = None, timeout: float | None = None) -> dict:
    event: dict = {"key": "payment-{{ params.order }}"}
    if timeout is not None:
        event["timeout"] = timeout
    return {
        "name": _name("event"),
        "params": {"order": 42},
        "steps": [
            *(before or []),
            {"id": "paid", "event": event, "needs": [s["id"] for s in before or []]},
            {
                "id": "receipt",
                "agent": "echo",
                "needs": ["paid"],
                "input": {"value": "{{ steps.paid.output.amount }}"},
            },
        ],
    }


def test_signal_during_the_wait_becomes_the_output(prefect_api):
    run = Background(_mission())
    marker = run.until(lambda: next(iter(run.waiting()), None), what="the event step waiting")
    assert marker["kind"] == "event" and marker["key"] == "payment-42"
    answers.signal(run.id, "payment-42", {"amount": 9.5})
    done = run.finish()
    assert done.state.is_completed()
    assert done.outputs()["paid"] == {"amount": 9.5}
    assert done.outputs()["receipt"] == 9.5
    assert inputs.read_input(done.flow_run.id, inputs.signal_key("payment-42")) is None
    assert run.waiting() == []


def test_signal_before_the_wait_is_kept_and_consumed_once(prefect_api, tmp_path: Path):
    gate = tmp_path / "gate"
    hold = {
        "id": "hold",
        "agent": "shell",
        "input": {"command": f"until [ -e {gate} ]; do sleep 0.1; done"},
    }
    run = Background(_mission([hold]))
    answers.signal(run.id, "payment-42", {"amount": 1})
    with pytest.raises(RunError, match="already delivered"):
        answers.signal(run.id, "payment-42", {"amount": 2})
    gate.touch()
    done = run.finish()
    assert done.state.is_completed()
    assert done.outputs()["paid"] == {"amount": 1}
    # consumed: the key is free again, for a later step or mission
    assert inputs.read_input(done.flow_run.id, inputs.signal_key("payment-42")) is None


def test_event_timeout_fails_the_step(prefect_api):
    done = run_mission(_mission(timeout=1))
    assert done.state.is_failed()
    assert "did not arrive within 1s" in (done.step("paid").error or "")
    assert done.step("receipt").state == "not run"


def test_signal_to_a_finished_or_unknown_run_is_refused(prefect_api):
    done = run_mission(
        {"name": _name("done"), "steps": [{"id": "a", "agent": "echo", "input": {"value": 1}}]}
    )
    with pytest.raises(RunError, match="already ended"):
        answers.signal(done.id, "k", {})
    with pytest.raises(RunError, match="no mission run"):
        answers.signal(str(uuid.uuid4()), "k", {})
    with pytest.raises(AutoAgentError, match="not JSON"):
        answers.signal(done.id, "k", {"x": float("nan")})
