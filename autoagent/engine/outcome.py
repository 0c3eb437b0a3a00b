"""What became of one step (or one for_each item) in this process, and the state names it takes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from prefect.results import ResultRecord
from prefect.states import State

from autoagent.errors import StepError

COMPLETED = "completed"
FAILED = "failed"
SKIPPED = "skipped"
BLOCKED = "blocked"
RUNNING = "running"
WAITING = "waiting"
SUSPENDED = "suspended"

SKIPPED_TASK_STATE = "Skipped"
"""The name of the Cancelled state a step's task run ends in when its ``when`` was false."""
BLOCKED_TASK_STATE = "NotRun"
"""The name of the Cancelled state a step's task run ends in when a need of it failed."""


@dataclass
class Outcome:
    """What became of one step (or one for_each item) in this process."""

    path: str
    state: str
    output: Any = None
    error: str | None = None
    kind: str | None = None
    started: float | None = None
    duration: float | None = None
    cached: bool = False
    prefect_state: State | None = field(default=None, repr=False)
    link: Any = field(default=None, repr=False)
    """Stands for the run that did the step, in the ``wait_for`` of those that need it
    (engine/graph.py)."""
    batch: str | None = None
    """For an item of a batched fan-out: its batch task run's name (engine/batches.py)."""
    parts: list[Outcome] | None = field(default=None, repr=False)
    """For a batch: the outcome of each of its items, in order."""


@dataclass(frozen=True)
class NotRun:
    """Why a step does not run, and the state its task run ends in to say so."""

    outcome: str
    task_state: str
    reason: str

    @classmethod
    def skipped(cls, when: object) -> NotRun:
        return cls(SKIPPED, SKIPPED_TASK_STATE, f"skipped: its `when` ({when}) was false")

    @classmethod
    def blocked(cls, failed: list[str]) -> NotRun:
        return cls(BLOCKED, BLOCKED_TASK_STATE, f"not run: {', '.join(failed)} failed")


ERRORS_NAMED = 3
"""Failed items a fan-out's or a batch's error names (a batch's table lists them all)."""


def failed_items(failed: Sequence[Any], total: int) -> str:
    """``N of M items failed: <path>: <error>; ...; and K more`` (outcomes or item runs)."""
    named = "; ".join(f"{r.path}: {r.error}" for r in failed[:ERRORS_NAMED])
    more = f"; and {len(failed) - ERRORS_NAMED} more" if len(failed) > ERRORS_NAMED else ""
    return f"{len(failed)} of {total} items failed: {named}{more}"


def failed_outcome(path: str, state: State) -> Outcome:
    """The outcome of a task that ended without completing: its error and kind."""
    exc = state.result(raise_on_failure=False)
    kind = exc.kind if isinstance(exc, StepError) else "error"
    message = str(exc) if isinstance(exc, BaseException) else (state.message or state.name)
    return Outcome(path, FAILED, error=message, kind=kind, prefect_state=state)


def state_value(state: State, raise_on_failure: bool = True) -> Any:
    """A final state's value: in memory when this process produced it, else read back. Sync in
    any thread, one that runs an event loop (a notebook) included, where Prefect's ``result``
    would hand back a coroutine: there it is read from a thread of its own."""
    if state.is_completed() and isinstance(state.data, ResultRecord):
        return state.data.result
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return state.result(raise_on_failure=raise_on_failure)
    with ThreadPoolExecutor(1, thread_name_prefix="autoagent-result") as pool:
        return pool.submit(state.result, raise_on_failure=raise_on_failure).result()
