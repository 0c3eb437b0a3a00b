"""Sagas: when a mission fails, the compensations of its completed steps run in reverse order.

A step's ``compensate: {agent, input}`` is resolved when the step completes (its own output is
``steps.<id>.output``; a fan-out gets one compensation per item, with ``item``), and remembered in
completion order, groups and child missions included. If the mission fails, they run newest
first, each at most once even across a crash (tasks/compensate.py). A compensation that fails is
reported; the others still run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autoagent import expressions
from autoagent.errors import ExpressionError
from autoagent.spec import Step
from flows.outcomes import COMPLETED, FAILED, NO_ITEM, Outcome, Scope


@dataclass
class Undo:
    """A completed step's compensation, resolved when the step completed."""

    path: str
    agent: str
    input: Any
    error: str | None = None  # its input could not be resolved


_undos: dict[str, list[Undo]] = {}
_lock = threading.Lock()


def remember(
    scope: Scope,
    step: Step,
    output: Any,
    items: list[Any] | None,
    context_of: Callable[[Any], dict[str, Any]],
) -> None:
    """Resolve a completed step's compensation while its context is at hand."""
    assert step.compensate is not None
    path = scope.prefix + step.id
    if items is None:
        units = [(path, NO_ITEM, output)]
    else:
        units = [
            (f"{path}[{i}]", item, out)
            for i, (item, out) in enumerate(zip(items, output, strict=True))
        ]
    for unit_path, item, own in units:
        context = context_of(item)
        context["steps"] = {**context["steps"], step.id: {"output": own}}
        try:
            resolved = expressions.render(step.compensate.input, context)
            undo = Undo(unit_path, step.compensate.agent, resolved)
        except ExpressionError as exc:
            undo = Undo(unit_path, step.compensate.agent, None, error=f"compensate: {exc}")
        with _lock:
            _undos.setdefault(scope.root_run_id, []).append(undo)


def compensate_all(scope: Scope) -> list[Outcome]:
    """Run the remembered compensations of this run, newest first; their outcomes."""
    from blocks.storage import result_storage
    from tasks.compensate import compensate

    with _lock:
        pending = list(reversed(_undos.pop(scope.root_run_id, [])))
    task = compensate.with_options(result_storage=result_storage())
    outcomes = []
    for undo in pending:
        path = undo.path + "#compensate"
        if undo.error is not None:
            outcomes.append(Outcome(path, FAILED, error=undo.error, kind="expression"))
            continue
        state = task(
            mission=scope.mission,
            root_run_id=scope.root_run_id,
            path=undo.path,
            agent=undo.agent,
            input=undo.input,
            return_state=True,
        )
        if state.is_completed():
            outcomes.append(Outcome(path, COMPLETED, cached=state.name == "Cached"))
        else:
            error = state.result(raise_on_failure=False)
            outcomes.append(Outcome(path, FAILED, error=str(error), prefect_state=state))
    return outcomes


def forget(scope: Scope) -> None:
    """A mission that completed has nothing to undo."""
    with _lock:
        _undos.pop(scope.root_run_id, None)
