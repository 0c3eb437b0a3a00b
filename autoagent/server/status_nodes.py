"""The nodes of a status tree: one step's state, attempts and duration as its task runs (or a
group's subflow runs) recorded them, and the turns of an LLM agent's step (its units).

``autoagent.server.status`` assembles the tree of a mission run from these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from autoagent.server.records import FlowRunRecord, TaskRunRecord

UNIT = re.compile(r"^(?P<owner>.+?)/turn-\d+/(model|call-\d+)(/.*)?$")
"""A unit of an LLM agent's step (engine/turns.py): ``<step>/turn-N/model`` or ``.../call-M``,
and what runs under a call (its approval, a delegate's turns)."""


@dataclass
class StepStatus:
    path: str
    id: str
    kind: str
    state: str = "pending"
    attempts: int = 0
    duration: float | None = None
    started: datetime | None = None
    error: str | None = None
    cached: bool = False
    waits_for: dict[str, Any] | None = None
    reason: str | None = None
    """Why a step did not run (skipped, or a need failed)."""
    note: str | None = None
    """What a unit of an LLM agent's step did (model, tokens, calls; a tool's answer)."""
    children: list[StepStatus] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.state in ("completed", "skipped")


NOT_RUN = ("skipped", "not run")
"""States of a step that did not run, with the reason its run gives."""


def turns(
    path: str, names: list[str], by_path: dict[str, list[TaskRunRecord]], ended: bool
) -> list[StepStatus]:
    """The turns of an agent's step at ``path``: each with its model request and tool calls,
    and under a call its approval and a delegate's turns."""
    parts: dict[int, set[str]] = {}
    for name in names:
        turn, _, rest = name.removeprefix(f"{path}/turn-").partition("/")
        if turn.isdigit() and rest:
            parts.setdefault(int(turn), set()).add(rest.split("/")[0])
    found: list[StepStatus] = []
    for n in sorted(parts):
        turn = StepStatus(path=f"{path}/turn-{n}", id=f"turn-{n}", kind="turn")
        for unit in sorted(parts[n], key=lambda u: (u != "model", len(u), u)):
            here = f"{turn.path}/{unit}"
            child = StepStatus(path=here, id=unit, kind="model" if unit == "model" else "tool")
            from_task_runs(child, by_path.get(here, []))
            if here in by_path and child.state == "completed":
                state = newest(by_path[here]).state
                child.note = state.message if state is not None else None
            if f"{here}/approval" in by_path:
                asked = StepStatus(path=f"{here}/approval", id="approval", kind="approval")
                from_task_runs(asked, by_path[f"{here}/approval"])
                child.children.append(asked)
            inner = [m for m in names if m.startswith(f"{here}/turn-")]
            child.children += turns(here, inner, by_path, ended) if inner else []
            ran = sorted(  # a mission tool's steps
                {
                    m
                    for m in names
                    if m.startswith(f"{here}/") and m.count("/") == here.count("/") + 1
                }
                - {f"{here}/approval"}
            )
            for step in ran:
                done = StepStatus(path=step, id=step.rsplit("/", 1)[1], kind="agent")
                from_task_runs(done, by_path[step])
                child.children.append(done)
            turn.children.append(child)
        join(turn, ended)
        found.append(turn)
    return found


BATCH = re.compile(r"^(?P<base>.+)\[(?P<start>\d+):(?P<stop>\d+)\]$")
"""A batch task run of a large fan-out (engine/batches.py): ``<step>[a:b]``."""


def batched_items(
    path: str,
    kind: str,
    batches: dict[str, list[TaskRunRecord]],
    tables: dict[Any, list[dict[str, Any]]],
) -> list[StepStatus]:
    """The items of a batched fan-out from its batches' table artifacts (one row per item); a
    batch with no table yet (running, or crashed) lends its state to its items. An item read
    back on a resume borrows the attempts and seconds of the batch run that really ran it."""
    found: list[StepStatus] = []
    for name, runs in sorted(batches.items(), key=lambda kv: int(BATCH.match(kv[0])["start"])):
        match = BATCH.match(name)
        rows: dict[str, dict[str, Any]] = {}
        for run in sorted(runs, key=lambda r: (r.created or datetime.min, r.start_time)):
            for row in tables.get(run.id, []):
                seen = rows.get(row.get("item", ""))
                if row.get("cached") and seen is not None and seen.get("state") == "completed":
                    row = {**seen, "cached": True}
                rows[str(row.get("item", ""))] = row
        for i in range(int(match["start"]), int(match["stop"])):
            item = StepStatus(path=f"{path}[{i}]", id=f"{path.rsplit('/', 1)[-1]}[{i}]", kind=kind)
            row = rows.get(item.path)
            if row is None:
                from_task_runs(item, runs)
                item.attempts = 0
                item.duration = None
            else:
                item.state = str(row.get("state", "pending"))
                item.attempts = int(row.get("attempts") or 0)
                item.duration = float(row.get("seconds") or 0.0)
                item.cached = bool(row.get("cached"))
                item.error = row.get("error") or None
            found.append(item)
    return found


ITEMS_SHOWN = 100
"""A fan-out wider than this shows only its items worth a look (failed, retried, not done)."""


def shown_items(children: list[StepStatus]) -> tuple[list[StepStatus], int]:
    """The children of a node to show, and how many plainly completed items are left out."""
    if len(children) <= ITEMS_SHOWN:
        return children, 0
    notable = [c for c in children if c.state != "completed" or c.attempts > 1][:ITEMS_SHOWN]
    return notable, len(children) - len(notable)


def newest(runs: list[Any]) -> Any:
    return max(runs, key=lambda r: (r.start_time or r.created or datetime.min, r.created))


def run_seconds(
    start: datetime | None, end: datetime | None, total: timedelta | None
) -> float | None:
    """A step's duration from its task run: first start to end, retries and their delays
    included (Prefect's run time leaves the delays out); what status, the report and the live
    progress all show."""
    if start and end:
        return (end - start).total_seconds()
    return total.total_seconds() if total else None


def from_task_runs(status: StepStatus, runs: list[TaskRunRecord]) -> None:
    if not runs:
        return
    run = newest(runs)
    state = run.state
    name = state.name if state else "Pending"
    status.state = _state(name, state.type.value if state else "PENDING")
    status.cached = name == "Cached"
    worker = run
    if status.cached:
        real = [r for r in runs if r.state and r.state.is_completed() and r.state.name != "Cached"]
        if real:
            worker = newest(real)
    status.attempts = 0 if status.state in NOT_RUN else worker.run_count
    status.started = worker.start_time
    status.duration = run_seconds(worker.start_time, worker.end_time, worker.total_run_time)
    if state is not None and state.is_failed():
        status.error = _error(state.message)
    elif status.state in NOT_RUN:
        status.reason = state.message if state is not None else None


def from_flow_runs(status: StepStatus, runs: list[FlowRunRecord]) -> None:
    if not runs:
        return
    run = newest(runs)
    state = run.state
    status.state = _state(
        state.name if state else "Pending", state.type.value if state else "PENDING"
    )
    status.attempts = len(runs)
    status.started = run.start_time
    status.duration = run_seconds(run.start_time, run.end_time, run.total_run_time)
    if state is not None and state.is_failed():
        status.error = _error(state.message)


def join(status: StepStatus, ended: bool) -> None:
    states = [c.state for c in status.children]
    if any(s == "failed" for s in states):
        status.state = "failed"
        status.error = next(c.error for c in status.children if c.state == "failed")
    elif states and all(s == "completed" for s in states):
        status.state = "completed"
        status.cached = all(c.cached for c in status.children)
    elif any(s in ("running", "retrying") for s in states) or not ended:
        status.state = "running"
    status.attempts = max((c.attempts for c in status.children), default=0)
    durations = [c.duration for c in status.children if c.duration is not None]
    status.duration = max(durations) if durations else None


def _state(name: str, state_type: str) -> str:
    lowered = name.lower()
    if lowered == "skipped":
        return "skipped"
    if lowered == "notrun":
        return "not run"
    if lowered in ("awaitingretry", "retrying"):
        return "retrying"
    mapping = {
        "COMPLETED": "completed",
        "FAILED": "failed",
        "CRASHED": "crashed",
        "CANCELLED": "cancelled",
        "CANCELLING": "cancelling",
        "RUNNING": "running",
        "PAUSED": "waiting",
        "SCHEDULED": "pending",
        "PENDING": "pending",
    }
    return mapping.get(state_type, lowered)


def _error(message: str | None) -> str | None:
    if not message:
        return None
    for prefix in ("Task run encountered an exception ", "Flow run encountered an exception. "):
        message = message.removeprefix(prefix)
    return message.strip()
