"""How each server event moves AutoAgent's metrics (the exporter's counting, without a server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autoagent.server.metrics import Metrics, RunInfo
from autoagent.server.records import FlowRunRecord


def _run(mission: str = "research", parent: str | None = None) -> RunInfo:
    return RunInfo(
        FlowRunRecord.model_validate(
            {
                "id": "9b1c3c1e-4e0e-4a8e-9f6e-2f1b7f0c8a11",
                "name": "r",
                "tags": ["autoagent", f"mission:{mission}"],
                "parent_task_run_id": parent,
            }
        )
    )


def _flow(state: str, count: int = 1, message: str = "") -> dict:
    return {
        "event": f"prefect.flow-run.{state}",
        "resource": {
            "prefect.resource.id": "prefect.flow-run.9b1c3c1e-4e0e-4a8e-9f6e-2f1b7f0c8a11",
            "prefect.run-count": str(count),
            "prefect.state-message": message,
        },
    }


def _tagged(event: str, tags: list[str], payload: dict) -> dict:
    related = [
        {"prefect.resource.id": f"prefect.tag.{t}", "prefect.resource.role": "tag"} for t in tags
    ]
    return {
        "event": event,
        "resource": {"prefect.resource.id": "x"},
        "related": related,
        "payload": payload,
    }


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_mission_started_crashed_resumed_and_completed_is_counted_once_each() -> None:
    metrics = Metrics()
    info = _run()
    for event in (
        _flow("Running"),
        _flow("Running"),  # back from a suspension: the same attempt
        _flow("Crashed", message="no heartbeat for 90s: its process or machine died"),
        _flow("AwaitingRecovery"),
        _flow("Running", count=2),
        _flow("Completed", count=2),
    ):
        metrics.observe(event, lambda _: info)
    labels = {"mission": "research"}
    assert _value(metrics, "autoagent_missions_started_total", **labels) == 1
    assert _value(metrics, "autoagent_missions_crashed_total", **labels) == 1
    assert _value(metrics, "autoagent_crash_detections_total", **labels) == 1
    assert _value(metrics, "autoagent_automatic_resumes_total", **labels) == 1
    assert _value(metrics, "autoagent_missions_resumed_total", **labels) == 1
    assert _value(metrics, "autoagent_missions_completed_total", **labels) == 1


def test_a_group_run_or_an_unknown_run_is_not_a_mission() -> None:
    metrics = Metrics()
    metrics.observe(
        _flow("Completed"), lambda _: _run(parent="5b1c3c1e-4e0e-4a8e-9f6e-2f1b7f0c8a11")
    )
    metrics.observe(_flow("Completed"), lambda _: None)
    assert _value(metrics, "autoagent_missions_completed_total", mission="research") == 0


def test_steps_by_agent_with_their_durations_and_retries() -> None:
    metrics = Metrics()
    tags = ["autoagent", "mission:research", "agent:shell"]
    done = {"task_run": {"total_run_time": 2.5}}
    metrics.observe(_tagged("prefect.task-run.AwaitingRetry", tags, {}), lambda _: None)
    metrics.observe(_tagged("prefect.task-run.Completed", tags, done), lambda _: None)
    metrics.observe(_tagged("prefect.task-run.Cached", tags, done), lambda _: None)
    metrics.observe(
        _tagged("prefect.task-run.Completed", ["mission:research"], done), lambda _: None
    )
    step = {"mission": "research", "agent": "shell"}
    assert _value(metrics, "autoagent_step_retries_total", **step) == 1
    assert _value(metrics, "autoagent_steps_total", **step, state="completed") == 1
    assert _value(metrics, "autoagent_steps_total", **step, state="cached") == 1
    assert _value(metrics, "autoagent_step_duration_seconds_count", **step) == 1
    assert _value(metrics, "autoagent_step_duration_seconds_sum", **step) == 2.5


def test_approvals_and_model_turns() -> None:
    metrics = Metrics()
    tags = ["mission:research"]
    answered = {"approved": False, "how": "person", "seconds": 42.0}
    metrics.observe(_tagged("autoagent.approval.answered", tags, answered), lambda _: None)
    metrics.observe(
        _tagged("autoagent.approval.answered", tags, {"approved": True, "how": "auto"}),
        lambda _: None,
    )
    turn = {
        "provider": "local",
        "model": "m1",
        "input_tokens": 100,
        "output_tokens": 7,
        "cost": 0.5,
    }
    for _ in range(2):
        metrics.observe(_tagged("autoagent.model.turn", tags, turn), lambda _: None)
    person = {"mission": "research", "decision": "rejected", "how": "person"}
    assert _value(metrics, "autoagent_approvals_answered_total", **person) == 1
    assert _value(metrics, "autoagent_approval_answer_seconds_sum", mission="research") == 42.0
    assert _value(metrics, "autoagent_approval_answer_seconds_count", mission="research") == 1
    model = {"provider": "local", "model": "m1"}
    assert _value(metrics, "autoagent_llm_turns_total", **model) == 2
    assert _value(metrics, "autoagent_llm_tokens_total", **model, direction="input") == 200
    assert _value(metrics, "autoagent_llm_tokens_total", **model, direction="output") == 14
    assert _value(metrics, "autoagent_llm_cost_total", **model) == 1.0


def test_gauges_say_how_open_missions_stand_now() -> None:
    metrics = Metrics()
    since = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    paused = FlowRunRecord.model_validate(
        {"id": "9b1c3c1e-4e0e-4a8e-9f6e-2f1b7f0c8a11", "name": "a", "state": {"type": "PAUSED"}}
    )
    running = paused.model_copy(
        update={"state": paused.state.model_copy(update={"type": "RUNNING"})}
    )
    metrics.stand([(paused, [{"kind": "approval", "since": since}]), (running, [])])
    assert _value(metrics, "autoagent_missions_open", state="PAUSED") == 1
    assert _value(metrics, "autoagent_missions_open", state="RUNNING") == 1
    assert _value(metrics, "autoagent_missions_waiting", kind="approval") == 1
    assert _value(metrics, "autoagent_missions_waiting", kind="timer") == 0
    assert 590 < _value(metrics, "autoagent_wait_age_seconds_max", kind="approval") < 700
    metrics.stand([])
    assert _value(metrics, "autoagent_missions_waiting", kind="approval") == 0
