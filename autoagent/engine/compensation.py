"""Compensations (sagas), for specs and code alike: when a mission fails, what its completed
steps did is undone, newest first.

A spec step's ``compensate: {agent, input}`` is resolved when the step completes (its own output
is ``steps.<id>.output``; a fan-out gets one compensation per item, with ``item``); a code step's
``compensate=`` function is called with the step's result. Either becomes an ``Undo``, remembered
in completion order, groups and sub-missions included. If the mission fails they run newest
first, each at most once even across a crash: before its action starts a marker is written with
the run on the server, and a resumed mission that finds the marker but no persisted result
reports the compensation as interrupted instead of running it again; a finished one is a cache
hit by its key (root run, step path, input). One that fails is reported; the others still run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect import task

from autoagent import expressions
from autoagent.agents import AgentContext, run_agent
from autoagent.engine import narrate
from autoagent.engine.graph import quoted
from autoagent.engine.outcome import COMPLETED, FAILED, Outcome
from autoagent.engine.results import cache_key
from autoagent.engine.storage import result_storage
from autoagent.errors import ExpressionError, StepError
from autoagent.server import inputs
from autoagent.spec import Step


def _always() -> bool:
    return True


@dataclass
class Undo:
    """What undoes one completed step (or for_each item), resolved when it completed."""

    path: str
    action: Callable[[], Any] | None
    """Undoes the step; None when it could not be resolved (``error`` says why)."""
    basis: Any = None
    """What identifies the action within the path (a spec compensation's input), for its key."""
    error: str | None = None
    applies: Callable[[], bool] = _always
    """Whether the step completed after all (a step submitted in parallel, from code)."""


def resolve(
    step: Step,
    path: str,
    output: Any,
    items: list[Any] | None,
    context_of: Callable[[Any], dict[str, Any]],
    *,
    mission: str,
    root_run_id: str,
    no_item: Any,
) -> list[Undo]:
    """The compensations of a completed spec step, one per for_each item, rendered while the
    step's context is at hand (``context_of(item)`` gives what its expressions see)."""
    assert step.compensate is not None
    if items is None:
        units = [(path, no_item, output)]
    else:
        units = [
            (f"{path}[{i}]", it, out) for i, (it, out) in enumerate(zip(items, output, strict=True))
        ]
    undos = []
    for unit_path, item, own in units:
        context = context_of(item)
        context["steps"] = {**context["steps"], step.id: {"output": own}}
        agent = step.compensate.agent
        try:
            resolved = expressions.render(step.compensate.input, context)
        except ExpressionError as exc:
            undos.append(Undo(unit_path, None, error=f"compensate: {exc}"))
            continue
        ctx = AgentContext(mission=mission, step_path=unit_path, run_id=root_run_id, attempt=1)
        action = functools.partial(run_agent, agent, ctx, resolved or {})
        undos.append(Undo(unit_path, action, basis=resolved))
    return undos


def compensate_all(root_run_id: str, undos: list[Undo]) -> list[Outcome]:
    """Run ``undos`` (in completion order) newest first; the outcome of each that applied."""
    run = compensate.with_options(result_storage=result_storage())
    outcomes = []
    for undo in reversed(undos):
        path = undo.path + "#compensate"
        if not undo.applies():
            continue
        narrate.compensating(root_run_id, undo.path)
        if undo.action is None:
            narrate.compensation_failed(root_run_id, undo.path, undo.error)
            outcomes.append(Outcome(path, FAILED, error=undo.error, kind="expression"))
            continue
        arguments = quoted(
            root_run_id=root_run_id, path=undo.path, action=undo.action, basis=undo.basis
        )
        state = run(**arguments, return_state=True)
        if state.is_completed():
            outcomes.append(Outcome(path, COMPLETED, cached=state.name == "Cached"))
        else:
            error = state.result(raise_on_failure=False)
            kind = error.kind if isinstance(error, StepError) else "error"
            narrate.compensation_failed(root_run_id, undo.path, str(error))
            outcomes.append(Outcome(path, FAILED, error=str(error), kind=kind, prefect_state=state))
    return outcomes


def _compensate(*, root_run_id: str, path: str, action: Callable[[], Any], basis: Any) -> None:
    if not inputs.write_input(UUID(root_run_id), inputs.compensating_key(path), {"path": path}):
        raise StepError(
            f"the compensation of {path!r} was interrupted by a crash; not run again (at most"
            " once): check what it did",
            kind="interrupted",
            retryable=False,
        )
    action()


def _key(context: Any, parameters: dict[str, Any]) -> str:
    return cache_key(
        parameters["root_run_id"], parameters["path"] + "#compensate", parameters["basis"]
    )


compensate = task(
    _compensate,
    name="compensate",
    task_run_name="{path}#compensate",
    persist_result=True,
    result_serializer="json",
    cache_key_fn=_key,
)
