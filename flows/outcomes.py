"""What a mission run is made of while it runs: scopes, outcomes and who listens to them.

``Scope`` says where a scheduler runs (root run, path prefix, what expressions see);
``Outcome`` is what became of one step. ``records`` keeps this process's outcomes by run for the
report and the CLI; ``listeners`` get each outcome as it happens (live progress).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect.states import State

from autoagent.spec import Defaults

COMPLETED, FAILED, SKIPPED_STATE, BLOCKED, RUNNING, WAITING, SUSPENDED = (
    "completed",
    "failed",
    "skipped",
    "blocked",
    "running",
    "waiting",
    "suspended",
)
NO_ITEM = object()


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


@dataclass
class Scope:
    """Where a scheduler runs: the root run, the path prefix, and what expressions can see."""

    mission: str
    root_run_id: str
    params: dict[str, Any]
    defaults: Defaults
    prefix: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    item: Any = NO_ITEM
    resuming: bool = False
    auto_approve: bool = False
    suspends: bool = False  # a deployed run: waits end the process instead of holding it

    def to_json(self) -> dict[str, Any]:
        data = {
            "mission": self.mission,
            "root_run_id": self.root_run_id,
            "params": self.params,
            "defaults": self.defaults.model_dump(mode="json"),
            "prefix": self.prefix,
            "outputs": self.outputs,
            "resuming": self.resuming,
            "auto_approve": self.auto_approve,
            "suspends": self.suspends,
        }
        if self.item is not NO_ITEM:
            data["item"] = self.item
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scope:
        return cls(
            mission=data["mission"],
            root_run_id=data["root_run_id"],
            params=data["params"],
            defaults=Defaults.model_validate(data["defaults"]),
            prefix=data.get("prefix", ""),
            outputs=data.get("outputs", {}),
            item=data.get("item", NO_ITEM),
            resuming=data.get("resuming", False),
            auto_approve=data.get("auto_approve", False),
            suspends=data.get("suspends", False),
        )


Listener = Callable[[Outcome], None]
listeners: list[Listener] = []
"""Called with every outcome as it happens (the CLI's live progress subscribes here)."""

records: dict[str, dict[str, Outcome]] = {}
"""Outcomes of this process by root run id, then path: read by the report and the CLI."""
_records_lock = threading.Lock()


def record(scope: Scope, outcome: Outcome) -> None:
    with _records_lock:
        records.setdefault(scope.root_run_id, {})[outcome.path] = outcome
    for listener in list(listeners):
        with contextlib.suppress(Exception):  # a broken display must not break a mission
            listener(outcome)


def failed_outcome(path: str, state: State) -> Outcome:
    """The outcome of a task that ended without completing: its error and kind."""
    from autoagent.errors import StepError

    exc = state.result(raise_on_failure=False)
    kind = exc.kind if isinstance(exc, StepError) else "error"
    message = str(exc) if isinstance(exc, BaseException) else (state.message or state.name)
    return Outcome(path, FAILED, error=message, kind=kind, prefect_state=state)


def state_value(state: State) -> Any:
    """A completed state's value: in memory when this process produced or loaded it."""
    from prefect.results import ResultRecord

    if isinstance(state.data, ResultRecord):
        return state.data.result
    return state.result()
