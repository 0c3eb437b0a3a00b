"""Compensation: when a mission fails, the compensations of its completed steps run newest first,
per fan-out item too, each once; a completed mission compensates nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.missions import run_mission

pytestmark = pytest.mark.integration


def _undo(log: Path, what: str) -> dict:
    return {"agent": "shell", "input": {"command": f"echo {what} >> {log}"}}


def _mission(log: Path, fail: bool) -> dict:
    last = (
        {
            "id": "charge",
            "agent": "fail",
            "needs": ["reserve"],
            "input": {"message": "card declined"},
        }
        if fail
        else {"id": "charge", "agent": "echo", "needs": ["reserve"], "input": {"value": "ok"}}
    )
    return {
        "name": f"saga-{uuid.uuid4().hex[:6]}",
        "params": {"seats": ["a1", "a2"]},
        "steps": [
            {
                "id": "book",
                "agent": "echo",
                "input": {"value": {"booking": "B-7"}},
                "compensate": _undo(log, "cancel-{{ steps.book.output.booking }}"),
            },
            {
                "id": "reserve",
                "agent": "echo",
                "needs": ["book"],
                "for_each": "{{ params.seats }}",
                "input": {"value": "{{ item }}"},
                "compensate": _undo(log, "release-{{ item }}"),
            },
            {
                "id": "notes",
                "steps": [
                    {
                        "id": "note",
                        "agent": "echo",
                        "input": {"value": 1},
                        "compensate": _undo(log, "unnote"),
                    }
                ],
            },
            last,
        ],
    }


def test_failed_mission_compensates_completed_steps_newest_first(prefect_api, tmp_path):
    log = tmp_path / "undo.log"
    run = run_mission(_mission(log, fail=True))
    assert run.state.is_failed()
    lines = log.read_text().split()
    assert sorted(lines) == ["cancel-B-7", "release-a1", "release-a2", "unnote"]
    # each compensation after those of the steps that completed after it
    assert lines.index("release-a1") < lines.index("cancel-B-7")
    assert lines.index("release-a2") < lines.index("cancel-B-7")
    assert "compensated (newest first)" in (run.state.message or "")


def test_completed_mission_compensates_nothing(prefect_api, tmp_path):
    log = tmp_path / "undo.log"
    run = run_mission(_mission(log, fail=False))
    assert run.state.is_completed()
    assert not log.exists()
