"""Finding mission runs (``autoagent list``): every filter but one is a single query on the
server (state, mission, tags, start time); what a run waits for is read per run, only for runs
that have not ended, page by page until enough match."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from autoagent.server.reader import Reader
from autoagent.server.records import FINAL, MISSION_TAG, FlowRunRecord, StateType
from autoagent.server.tags import MISSION_PREFIX

WAIT_KINDS = ("approval", "event", "timer")
"""What a waiting run may wait for: a person, an external event, a durable timer."""
OPEN = frozenset(StateType) - FINAL
PAGE = 200
EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunQuery:
    """Which mission runs to find (top-level runs only), newest first."""

    states: frozenset[StateType] = frozenset()
    mission: str | None = None
    tags: tuple[str, ...] = ()
    waiting: str | None = None
    """One of WAIT_KINDS: runs with at least one step waiting for it now."""
    since: datetime | None = None
    """Started at or after (aware)."""
    before: datetime | None = None
    """Started before (aware)."""
    limit: int = 20

    def states_to_read(self) -> frozenset[StateType]:
        """The state types the server is asked for (empty: any); a run waits only while open."""
        if self.waiting is None:
            return self.states
        return (self.states or OPEN) & OPEN

    def flow_run_filter(self) -> dict[str, Any]:
        """The REST API's FlowRunFilter, as JSON."""
        tags = [MISSION_TAG, *([f"{MISSION_PREFIX}{self.mission}"] if self.mission else [])]
        query: dict[str, Any] = {
            "parent_task_run_id": {"is_null_": True},
            "tags": {"all_": [*tags, *self.tags]},
        }
        if states := self.states_to_read():
            query["state"] = {"type": {"any_": sorted(states)}}
        if self.since is not None or self.before is not None:
            started: dict[str, Any] = {"is_null_": False}
            if self.since is not None:
                started["after_"] = self.since.isoformat()
            if self.before is not None:
                started["before_"] = self.before.isoformat()
            query["start_time"] = started
        return query


@dataclass(frozen=True)
class Found:
    run: FlowRunRecord
    waiting: list[dict[str, Any]] = field(default_factory=list)
    """The wait markers of its steps waiting now (none once it ended)."""


def find(reader: Reader, query: RunQuery) -> list[Found]:
    """The runs ``query`` selects, newest first (by start, then by creation), at most its limit."""
    if query.waiting is not None and not query.states_to_read():
        return []  # asked for ended runs that wait: none can
    found: list[Found] = []
    offset = 0
    while len(found) < query.limit:
        size = PAGE if query.waiting is not None else min(PAGE, query.limit - len(found))
        page = reader.flow_runs_page(
            query.flow_run_filter(), sort="START_TIME_DESC", limit=size, offset=offset
        )
        offset += len(page)
        for run in page:
            ended = run.state is None or run.state.is_final()
            waiting = [] if ended else reader.waiting(run.id)
            if query.waiting is None or any(m.get("kind") == query.waiting for m in waiting):
                found.append(Found(run, waiting))
        if len(page) < size:
            break
    newest = sorted(found, key=lambda f: f.run.start_time or f.run.created or EPOCH, reverse=True)
    return newest[: query.limit]
