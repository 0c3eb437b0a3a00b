"""The Python helpers in any Prefect flow: approval, event and wait, answered with
``autoagent.approve`` and ``autoagent.signal``; a rerun of the same flow run never asks again."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest
from prefect import flow, get_client
from prefect.flow_engine import run_flow
from prefect.states import Pending

import autoagent
from autoagent.errors import AutoAgentError

pytestmark = pytest.mark.integration

asked: list[str] = []


@flow(name="release-helpers", persist_result=False)
def release(ticket_default: int = 1) -> dict:
    asked.append("run")
    answer = autoagent.approval(
        "Release?",
        step="gate",
        description="Ship it **now**",
        fields={"ticket": {"type": "int", "default": ticket_default}},
    )
    payload = autoagent.event("go", timeout=60)
    woke = autoagent.wait(0.2, step="cool-down")
    return {"answer": answer, "payload": payload, "woke": woke}


def _start(target, *args) -> threading.Thread:
    thread = threading.Thread(target=contextvars.copy_context().run, args=(target, *args))
    thread.start()
    return thread


def _until(predicate, timeout: float = 30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_helpers_wait_and_are_answered_from_python(prefect_api):
    from autoagent.server import inputs

    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(flow=release, parameters={}, state=Pending())
    states: list = []
    thread = _start(
        lambda: states.append(run_flow(release, flow_run=flow_run, return_type="state"))
    )
    _until(lambda: any(m["path"] == "gate" for m in inputs.waiting(flow_run.id)))
    _until(lambda: _paused(flow_run.id))
    autoagent.approve(str(flow_run.id), "gate", comment="ok", fields={"ticket": 9})
    _until(lambda: any(m["path"] == "go" for m in inputs.waiting(flow_run.id)))
    autoagent.signal(str(flow_run.id), "go", {"n": 1})
    thread.join(60)
    assert states and states[0].is_completed(), states
    result = states[0].result()
    assert result["answer"]["approved"] is True and result["answer"]["ticket"] == 9
    assert result["payload"] == {"n": 1}
    assert "woke_at" in result["woke"]

    # the same flow run again (a retry or a resume): every wait is a cache hit, nothing is asked
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.id, Pending(), force=True)
        again = client.read_flow_run(flow_run.id)
    rerun = run_flow(release, flow_run=again, return_type="state")
    assert rerun.is_completed()
    assert rerun.result()["answer"] == result["answer"]
    assert inputs.waiting(flow_run.id) == []


def _paused(run_id) -> bool:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    return bool(state and state.is_paused())


def test_helpers_refuse_bad_arguments_and_calls_outside_a_flow():
    with pytest.raises(AutoAgentError, match="step 'x': on_timeout"):
        autoagent.approval("Go?", step="x", on_timeout="maybe")
    with pytest.raises(AutoAgentError, match="must run inside a flow run"):
        autoagent.event("k")
