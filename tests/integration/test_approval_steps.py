"""Approvals on a real Prefect server on PostgreSQL: answered from Python and the CLI, rejected,
timed out, refused on bad input, queued in parallel, auto-approved."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from autoagent.api import answers
from autoagent.errors import AutoAgentError, RunError
from tests.background import Background
from tests.e2e.cli import lines_in
from tests.missions import run_mission

pytestmark = pytest.mark.integration


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _counter(tmp_path: Path, name: str) -> dict:
    return {"command": f"echo x >> {tmp_path / name}; echo {name}"}


def _mission(tmp_path: Path, approval: dict, **extra) -> dict:
    return {
        "name": _name("approval"),
        "steps": [
            {"id": "build", "agent": "shell", "input": _counter(tmp_path, "build")},
            {
                "id": "review",
                "needs": ["build"],
                "approval": {
                    "title": "Ship {{ steps.build.output.stdout }}?",
                    "description": "Built: **{{ steps.build.output.stdout }}**",
                    **approval,
                },
            },
            {
                "id": "ship",
                "agent": "echo",
                "needs": ["review"],
                "input": {"value": "{{ steps.review.output }}"},
            },
        ],
        **extra,
    }


def test_approved_from_python_with_fields(prefect_api, tmp_path):
    fields = {
        "region": {"type": "enum", "choices": ["eu", "us"]},
        "replicas": {"type": "int", "default": 2},
    }
    run = Background(_mission(tmp_path, {"fields": fields}))
    marker = run.until_waiting("review")
    assert marker["title"] == "Ship build?"
    answers.approve(run.id, approved=True, comment="go", fields={"region": "eu"})
    done = run.finish()
    assert done.state.is_completed(), done.state
    shipped = done.outputs()["ship"]
    assert shipped["approved"] is True and shipped["comment"] == "go"
    assert shipped["region"] == "eu" and shipped["replicas"] == 2
    assert "answered_at" in shipped
    assert done.step("review").state == "completed"
    assert lines_in(tmp_path, "build") == 1
    assert run.waiting() == []


def test_a_rejection_needs_no_field_an_approval_still_does(prefect_api, tmp_path):
    fields = {"ticket": {"type": "int"}, "region": {"type": "enum", "choices": ["eu", "us"]}}
    run = Background(_mission(tmp_path, {"fields": fields, "on_reject": "continue"}))
    run.until_waiting("review")
    with pytest.raises(AutoAgentError, match="'ticket' is a required property"):
        answers.approve(run.id, approved=True, fields={"region": "eu"})
    assert run.until_waiting("review", timeout=5)
    answers.approve(run.id, approved=False, comment="no", fields={"region": None})
    done = run.finish()
    assert done.state.is_completed(), done.state
    answer = done.outputs()["ship"]
    assert answer["approved"] is False and answer["comment"] == "no"
    assert answer["ticket"] is None and answer["region"] is None


def test_rejected_fails_the_step_and_blocks_dependents(prefect_api, tmp_path):
    run = Background(_mission(tmp_path, {}))
    run.until_waiting("review")
    answers.approve(run.id, approved=False, comment="not today")
    done = run.finish()
    assert done.state.is_failed()
    assert done.step("review").state == "failed"
    assert "rejected: not today" in (done.step("review").error or "")
    assert done.step("ship").state == "not run"


def test_rejected_with_on_reject_continue_completes(prefect_api, tmp_path):
    run = Background(_mission(tmp_path, {"on_reject": "continue"}))
    run.until_waiting("review")
    answers.approve(run.id, approved=False)
    done = run.finish()
    assert done.state.is_completed()
    assert done.outputs()["ship"]["approved"] is False


@pytest.mark.parametrize(
    ("on_timeout", "completes", "approved"),
    [("approve", True, True), ("reject", False, None), ("fail", False, None)],
)
def test_timeout_becomes_the_on_timeout_outcome(
    prefect_api, tmp_path, on_timeout, completes, approved
):
    data = _mission(tmp_path, {"timeout": 1.5, "on_timeout": on_timeout})
    done = run_mission(data)
    assert done.state.is_completed() is completes
    review = done.step("review")
    if completes:
        assert done.outputs()["ship"]["approved"] is approved
        assert "timed out" in done.outputs()["ship"]["comment"]
    else:
        expected = "rejected" if on_timeout == "reject" else "not answered within 1.5s"
        assert review.state == "failed" and expected in (review.error or "")


def test_bad_input_is_refused_and_the_run_keeps_waiting(prefect_api, tmp_path):
    fields = {"replicas": {"type": "int"}}
    run = Background(_mission(tmp_path, {"fields": fields}))
    run.until_waiting("review")
    bad = [
        ({"replicas": "three"}, "'three' is not of type 'integer'"),
        ({}, "'replicas' is a required property"),
        ({"replicas": 3, "colour": "red"}, "'colour' was unexpected"),
    ]
    for given, reason in bad:
        with pytest.raises(AutoAgentError, match=reason):
            answers.approve(run.id, "review", fields=given)
        assert run.until_waiting("review", timeout=5)
    answers.approve(run.id, "review", fields={"replicas": 3})
    done = run.finish()
    assert done.state.is_completed()
    assert done.outputs()["ship"]["replicas"] == 3


def test_parallel_approvals_queue_and_take_early_answers(prefect_api, tmp_path):
    data = {
        "name": _name("two-approvals"),
        "steps": [
            {"id": "legal", "approval": {"title": "Legal OK?"}},
            {"id": "security", "approval": {"title": "Security OK?"}},
            {"id": "done", "agent": "echo", "needs": ["legal", "security"], "input": {"value": 1}},
        ],
    }
    run = Background(data)
    both = run.until(lambda: len(run.waiting()) == 2, what="both approvals waiting")
    assert both
    with pytest.raises(RunError, match="several approvals"):
        answers.approve(run.id)
    # whichever holds the form, the other one is answered early and taken when its turn comes
    for path in ("legal", "security"):
        answers.approve(run.id, path, comment=path)
    done = run.finish()
    assert done.state.is_completed(), done.state
    assert done.outputs()["legal"]["comment"] == "legal"
    assert done.outputs()["security"]["comment"] == "security"


def test_auto_approve_answers_with_defaults(prefect_api, tmp_path):
    fields = {"level": {"type": "str", "default": "low"}}
    run = Background(_mission(tmp_path, {"fields": fields}), auto_approve=True)
    done = run.finish()
    assert done.state.is_completed()
    assert done.outputs()["ship"]["approved"] is True
    assert done.outputs()["ship"]["level"] == "low"


def test_answer_to_a_finished_run_is_refused(prefect_api, tmp_path):
    done = run_mission(
        {"name": _name("done"), "steps": [{"id": "a", "agent": "echo", "input": {"value": 1}}]}
    )
    with pytest.raises(RunError, match="already ended"):
        answers.approve(done.id)
