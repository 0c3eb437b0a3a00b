"""Missions as Python code: ``@mission``, and the ways to run missions from code: ``sub_mission``,
``run``, ``run_spec``.

A ``@mission`` is a Prefect flow with AutoAgent's durable defaults; its steps (autoagent.api.steps)
are Prefect tasks whose results persist under the same key a spec step gets, so a retried or
resumed run on the same flow run id finds every completed step and runs none of them again. The
body must be deterministic (design.md section 2): side effects belong in steps.

    @step(retries=3, retry_on=["http_status"])
    def fetch(url: str) -> dict: ...

    @mission
    def release(topic: str) -> dict:
        page = fetch("https://example.org")                 # path "fetch"
        text = step("shout", agent="shell", input={"command": f"echo {topic}"})
        approval("Ship it?")
        return sub_mission("examples/child.yaml", params={"topic": topic})
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, overload
from uuid import UUID

from prefect import Flow
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger

from autoagent.api import runs
from autoagent.api.runs import Finished
from autoagent.api.scope import (
    MissionScope,
    compensate_all,
    current_scope,
    entered,
    next_prefix,
    prefixed,
    require_scope,
)
from autoagent.engine import limits, versions
from autoagent.engine.driving import heartbeat_unless_driven, local_run
from autoagent.engine.journal import Journal, journaling
from autoagent.engine.mission import check_runnable, run_steps
from autoagent.engine.outcome import state_value
from autoagent.engine.scope import Scope
from autoagent.errors import RunError
from autoagent.server import inputs
from autoagent.server.client import client
from autoagent.server.connection import ensure_api
from autoagent.server.liveness import mark_alive
from autoagent.server.tags import mission_tags, param_tags
from autoagent.settings import get_settings
from autoagent.spec import MissionSpec
from autoagent.spec.validate import load, validate_data

P = ParamSpec("P")
R = TypeVar("R")


@overload
def mission(fn: Callable[P, R]) -> Flow[P, R]: ...
@overload
def mission(
    fn: None = None,
    *,
    name: str | None = None,
    concurrency: dict[str, int] | None = None,
    **flow_options: Any,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...
def mission(
    fn: Callable[P, R] | None = None,
    *,
    name: str | None = None,
    concurrency: dict[str, int] | None = None,
    **flow_options: Any,
):
    """Make a function a mission: a Prefect flow whose steps are durable (see the module).

    At the top it heartbeats (crash detection, ``autoagent resume``) and, if the body fails, runs
    the compensations of its completed steps newest first, each at most once. Called inside another
    mission it is a sub-mission: its steps' paths take its name as a prefix. ``concurrency``
    declares global concurrency limits (name: slots) that its steps may hold, as a spec's does.
    """

    def decorate(function: Callable[P, R]) -> Flow[P, R]:
        mission_name = name or function.__name__.replace("_", "-")
        entrypoint = _entrypoint(function)

        @functools.wraps(function)
        def body(*args: P.args, **kwargs: P.kwargs) -> R:
            # only module-level names in here: a runner pickles a flow defined in __main__
            return _run_body(function, mission_name, entrypoint, concurrency, args, kwargs)

        options = {"persist_result": False, "log_prints": True, **flow_options}
        return Mission(fn=body, name=mission_name, **options)

    return decorate(fn) if fn is not None else decorate


def _run_body(
    function: Callable[..., R],
    mission_name: str,
    entrypoint: str | None,
    concurrency: dict[str, int] | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> R:
    """A mission's body in its scope: at the top, tagged, heartbeating and compensated on
    failure; inside another mission, as a sub-mission under its prefix."""
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    parent = current_scope()
    if parent is None:
        scope = MissionScope(mission_name, str(context.flow_run.id))
        scope.limits = {**get_settings().concurrency_limits, **(concurrency or {})}
        scope.run_name = context.flow_run.name
        scope.tags = tuple(mission_tags(mission_name))
    else:
        prefix = next_prefix() or parent.path(mission_name) + "/"
        scope = MissionScope(mission_name, parent.root_run_id, prefix, parent.undos)
        scope.limits = {**parent.limits, **(concurrency or {})}
        scope.run_name, scope.tags = parent.run_name, parent.tags
    with entered(scope):
        if parent is not None:
            return function(*args, **kwargs)
        with _top_level(context.flow_run, mission_name, entrypoint, function):
            try:
                return function(*args, **kwargs)
            except Exception:
                compensate_all(scope)
                raise


class Mission(Flow[P, R]):
    """The flow of a ``@mission``: called directly, it first finds the server (the local one,
    started if none is configured), as every AutoAgent entry point does, so it never falls back
    to Prefect's per-process temporary server."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        ensure_api()
        return super().__call__(*args, **kwargs)

    def with_options(self, **options: Any) -> Mission[P, R]:
        made = super().with_options(**options)
        made.__class__ = type(self)  # Prefect builds the copy as a plain Flow
        return made


def _entrypoint(function: Callable[..., Any]) -> str | None:
    """Where a mission defined at the top of a module or script can be loaded from again:
    ``module:name`` (``python -m`` included) or ``/path/to/script.py:name``. None for a notebook
    cell or a function's local."""
    if "<locals>" in function.__qualname__:
        return None
    module = function.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else None
    if module:
        return f"{module}:{function.__qualname__}"
    try:
        source = inspect.getsourcefile(function)
    except TypeError:
        return None
    if source is None or not Path(source).is_file():
        return None
    return f"{Path(source).resolve()}:{function.__qualname__}"


@contextlib.contextmanager
def _top_level(
    flow_run: FlowRun, mission_name: str, entrypoint: str | None, function: Callable[..., Any]
) -> Iterator[None]:
    """Tags the run as a mission, records where to import it from for ``autoagent resume`` and
    the code it began on (engine/versions.py), and heartbeats unless the engine (or
    ``autoagent resume``) already does. Run again on changed code, it follows the setting."""
    _check_code(flow_run, mission_name, function)
    tags = sorted(
        {*(flow_run.tags or []), *mission_tags(mission_name), *param_tags(flow_run.parameters)}
    )
    with client() as prefect:
        prefect.update_flow_run(flow_run.id, tags=tags)
    if entrypoint is not None:
        inputs.write_input(UUID(str(flow_run.id)), inputs.ENTRYPOINT_KEY, entrypoint)
    run_id = str(flow_run.id)
    with heartbeat_unless_driven(flow_run, mission_name, on_start=lambda: mark_alive(run_id)):
        yield


def _check_code(flow_run: FlowRun, mission_name: str, function: Callable[..., Any]) -> None:
    """Record the code a run begins on; on a later attempt, judge a change by the setting
    (``autoagent resume`` judged it already, with ``--allow-changed-code``)."""
    current = versions.code_version(function)
    began = versions.record(UUID(str(flow_run.id)), current)
    differs = versions.changed(began, current)
    if not differs:
        return
    said = f"the code of mission {mission_name!r} changed since the run began: {'; '.join(differs)}"
    logger = get_run_logger()
    if local_run() is not None:
        logger.warning(f"{said}; going on: `autoagent resume --allow-changed-code`")
    elif get_settings().changed_code == "proceed":
        logger.warning(f"{said}; going on: AUTOAGENT_CHANGED_CODE=proceed")
    else:
        logger.error(f"{said}; refused: AUTOAGENT_CHANGED_CODE=refuse")
        raise RunError(
            f"{said}. Refused (AUTOAGENT_CHANGED_CODE=refuse): resume it with"
            f" `autoagent resume {flow_run.id} --allow-changed-code`, or set"
            " AUTOAGENT_CHANGED_CODE=proceed"
        )


def sub_mission(
    target: Flow[..., Any] | str | Path | dict[str, Any],
    params: dict[str, Any] | None = None,
    *,
    name: str | None = None,
) -> Any:
    """Run a child mission inside this one, as a subflow: a ``@mission`` (called with ``params``
    as keyword arguments) or a spec (a path or a dict; its outputs by step id come back). Its steps'
    paths start with ``name/`` (default: the child's name), so a resume finds them."""
    scope = require_scope("sub_mission")
    if isinstance(target, Flow):
        child_name = name or target.name
        path = scope.path(child_name)
        with prefixed(path + "/"):
            return target.with_options(flow_run_name=path)(**(params or {}))
    spec = _load(target)
    return _spec_group(scope, spec, params or {}, name or spec.name)


def _spec_group(
    scope: MissionScope, spec: MissionSpec, params: dict[str, Any], name: str
) -> dict[str, Any]:
    """A spec run as a group of this mission; its steps' compensations join the mission's."""
    check_runnable(spec, params)
    limits.ensure(spec)
    inner = Scope(
        mission=spec.name,
        root_run_id=scope.root_run_id,
        params={**spec.params, **params},
        defaults=spec.defaults,
        prefix=scope.path(name) + "/",
        resuming=True,  # read persisted results first: this body may be a re-run
        run_name=scope.run_name,
        tags=scope.tags,
    )
    with journaling(Journal()) as journal:
        try:
            return state_value(run_steps(spec.steps, inner))
        finally:
            for undo in journal.take_undos():
                scope.remember(undo)


def _load(target: str | Path | dict[str, Any]) -> MissionSpec:
    return validate_data(target) if isinstance(target, dict) else load(target)


def run(target: Flow[..., Any], /, **params: Any) -> Finished:
    """Run a ``@mission`` here to its end with ``params``: its run id, final state and journal.
    It returns once the server holds every step's record, so a report read next shows them."""
    with journaling(Journal()) as journal:
        state = target(**params, return_state=True)
    finished = Finished(str(state.state_details.flow_run_id), state, journal)
    runs.recorded(finished)
    return finished


def run_spec(
    spec: str | Path | dict[str, Any] | MissionSpec,
    params: dict[str, Any] | None = None,
    *,
    auto_approve: bool = False,
) -> Finished | dict[str, Any]:
    """Run a spec from code. Outside a mission: a new mission run, driven here to its end (as
    ``autoagent run`` does). Inside a mission: a sub-mission; its outputs come back."""
    loaded = spec if isinstance(spec, MissionSpec) else _load(spec)
    scope = current_scope()
    if scope is not None:
        return _spec_group(scope, loaded, params or {}, loaded.name)
    flow_run = runs.create(loaded, params or {}, auto_approve)
    finished = runs.execute(flow_run, spec=loaded)
    runs.recorded(finished)
    return finished
