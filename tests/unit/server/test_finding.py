"""Which runs ``autoagent list`` asks the server for: every filter but the wait kind is one
query (the REST API's FlowRunFilter)."""

from __future__ import annotations

from datetime import UTC, datetime

from autoagent.server.finding import RunQuery
from autoagent.server.records import StateType


def test_no_filter_asks_for_every_top_level_mission_run() -> None:
    assert RunQuery().flow_run_filter() == {
        "parent_task_run_id": {"is_null_": True},
        "tags": {"all_": ["autoagent"]},
    }


def test_each_filter_is_part_of_the_query() -> None:
    since, before = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC)
    query = RunQuery(
        states=frozenset({StateType.FAILED, StateType.CRASHED}),
        mission="research",
        tags=("nightly",),
        since=since,
        before=before,
    )
    assert query.flow_run_filter() == {
        "parent_task_run_id": {"is_null_": True},
        "tags": {"all_": ["autoagent", "mission:research", "nightly"]},
        "state": {"type": {"any_": ["CRASHED", "FAILED"]}},
        "start_time": {
            "is_null_": False,
            "after_": since.isoformat(),
            "before_": before.isoformat(),
        },
    }


def test_a_run_waits_only_while_it_has_not_ended() -> None:
    waiting = RunQuery(waiting="approval")
    assert StateType.COMPLETED not in waiting.states_to_read()
    assert StateType.PAUSED in waiting.states_to_read()
    assert RunQuery(waiting="timer", states=frozenset({StateType.COMPLETED})).states_to_read() == (
        frozenset()
    )
