"""Waiting from Python: ``approval``, ``event`` and ``wait`` inside any Prefect flow run.

Each is the same durable step a spec gets (engine/ask.py, engine/timer.py), keyed by the flow run
and a step name, so a retried or resumed flow run on the same id never asks twice and a timer keeps
its first deadline. Called from the body of a deployed flow, they suspend it as a deployed mission
does (engine/suspend.py): the process exits and the run comes back when answered or due.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pydantic
from prefect.context import FlowRunContext
from prefect.exceptions import Pause

from autoagent.api.scope import current_scope
from autoagent.engine.ask import answered, ask, await_signal, basis, begin_wait, consume_signal
from autoagent.engine.graph import quoted
from autoagent.engine.journal import journaled
from autoagent.engine.results import MISSING, Results
from autoagent.engine.storage import result_storage
from autoagent.engine.suspend import reschedule_at, suspend_for, suspends, timer_suspends
from autoagent.engine.timer import fix_deadline, sleep_until
from autoagent.errors import AutoAgentError
from autoagent.spec.models import Approval, Event, Wait


def approval(
    title: str,
    *,
    step: str | None = None,
    description: str = "",
    fields: dict[str, dict[str, Any]] | None = None,
    timeout: float | None = None,
    on_timeout: str = "fail",
    on_reject: str = "fail",
    auto_approve: bool = False,
) -> dict[str, Any]:
    """Wait for a person's answer; returns it (approved, comment, fields, answered_at).

    A rejection raises StepError (kind ``rejected``) unless ``on_reject="continue"``.
    """
    spec = _model(
        Approval,
        step or title,
        title=title,
        description=description,
        fields=fields or {},
        timeout=timeout,
        on_timeout=on_timeout,
        on_reject=on_reject,
    )
    root, path = _where(step or title)
    params = {
        "approval": spec.model_dump(mode="json"),
        "title": title,
        "description": description,
        "auto_approve": auto_approve,
    }
    if not auto_approve:
        _wait_unless_answered(root, path, params, suspend=spec.timeout is None)
    return journaled(ask, result_storage=result_storage())(
        **quoted(root_run_id=root, path=path, **params)
    )


def event(key: str, *, step: str | None = None, timeout: float | None = None) -> Any:
    """Wait for the signal ``key`` (``autoagent signal RUN KEY``); returns its JSON payload."""
    _model(Event, step or key, key=key, timeout=timeout)
    root, path = _where(step or key)
    _wait_unless_answered(root, path, {"key": key, "timeout": timeout}, suspend=timeout is None)
    payload = journaled(await_signal, result_storage=result_storage())(
        **quoted(root_run_id=root, path=path, key=key, timeout=timeout)
    )
    consume_signal(root, path, key)
    return payload


def wait(
    seconds: float | None = None, *, until: datetime | str | None = None, step: str = "wait"
) -> dict[str, str]:
    """Sleep until a durable deadline, fixed the first time this step is reached."""
    timer = _model(Wait, step, seconds=seconds, until=until)
    root, path = _where(step)
    storage = result_storage()
    deadline = journaled(fix_deadline, result_storage=storage)(
        **quoted(root_run_id=root, path=path, wait=timer.model_dump(mode="json", exclude_none=True))
    )
    if _suspends() and timer_suspends(deadline):
        raise Pause(state=reschedule_at(root, path, deadline))
    return journaled(sleep_until, result_storage=storage)(
        **quoted(root_run_id=root, path=path, deadline=deadline)
    )


def _wait_unless_answered(root: str, path: str, params: dict[str, Any], *, suspend: bool) -> None:
    """Unless answered (or an earlier attempt recorded the step's result: a consumed signal is
    gone from the server), mark the wait and say it in the log; in a deployed flow run, and for
    a wait without a timeout, end the process until the answer or signal arrives."""
    if answered(root, path, params) or Results(root).read(path, basis(params)) is not MISSING:
        return
    if suspend and _suspends():
        raise Pause(state=suspend_for(root, path, params))
    begin_wait(root, path, params)


def _suspends() -> bool:
    context = FlowRunContext.get()
    return context is not None and context.flow_run is not None and suspends(context.flow_run)


def _model(cls: type[pydantic.BaseModel], step: str, **values: Any) -> Any:
    try:
        return cls.model_validate({k: v for k, v in values.items() if v is not None})
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or cls.__name__.lower()}: {e['msg']}"
            for e in exc.errors()
        )
        raise AutoAgentError(f"step {step!r}: {problems}") from None


def _where(path: str) -> tuple[str, str]:
    """The run that keys the step and its full path: the root mission's run inside a @mission
    (sub-missions included, so a resumed root finds their answers), else this flow run."""
    scope = current_scope()
    if scope is not None:
        return scope.root_run_id, scope.path(path)
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise AutoAgentError(f"step {path!r} must run inside a flow run (a mission)")
    return str(context.flow_run.id), path
