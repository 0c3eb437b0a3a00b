"""``@mission`` and the ways to run missions from code: ``sub_mission``, ``run``, ``run_spec``."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, overload

from prefect import Flow
from prefect.context import FlowRunContext
from prefect.states import State

from autoagent.code.scope import (
    NEXT_PREFIX,
    SCOPE,
    MissionScope,
    compensate_all,
    require_scope,
)
from autoagent.connection import ensure_api
from autoagent.settings import get_settings
from autoagent.spec import MissionSpec

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
            context = FlowRunContext.get()
            assert context is not None and context.flow_run is not None
            parent = SCOPE.get()
            if parent is None:
                scope = MissionScope(mission_name, str(context.flow_run.id))
                scope.limits = {**get_settings().concurrency_limits, **(concurrency or {})}
            else:
                prefix = NEXT_PREFIX.get() or parent.path(mission_name) + "/"
                scope = MissionScope(mission_name, parent.root_run_id, prefix, parent.undos)
                scope.limits = {**parent.limits, **(concurrency or {})}
            token, consumed = SCOPE.set(scope), NEXT_PREFIX.set(None)
            try:
                if parent is not None:
                    return function(*args, **kwargs)
                with _top_level(context.flow_run, mission_name, entrypoint):
                    try:
                        return function(*args, **kwargs)
                    except Exception:
                        compensate_all(scope)
                        raise
            finally:
                NEXT_PREFIX.reset(consumed)
                SCOPE.reset(token)

        options = {"persist_result": False, "log_prints": True, **flow_options}
        return Mission(fn=body, name=mission_name, **options)

    return decorate(fn) if fn is not None else decorate


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


ENTRYPOINT_KEY = "autoagent-entrypoint"
"""Flow run input of a code mission's root run: where ``autoagent resume`` imports it from."""


def _entrypoint(function: Callable[..., Any]) -> str | None:
    """Where a mission defined at the top of a module or script can be loaded from again:
    ``module:name`` (``python -m`` included) or ``/path/to/script.py:name``. None for a notebook
    cell or a function's local."""
    import sys

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
def _top_level(flow_run: Any, mission_name: str, entrypoint: str | None) -> Iterator[None]:
    """Tags the run as a mission, records where to import it from for ``autoagent resume``, and
    heartbeats unless the engine (or ``autoagent resume``) already does."""
    from uuid import UUID

    from autoagent import runs, waits
    from autoagent.heartbeat import unless_on

    tags = sorted({*(flow_run.tags or []), runs.MISSION_TAG, f"mission:{mission_name}"})
    with runs._client() as client:
        client.update_flow_run(flow_run.id, tags=tags)
    if entrypoint is not None:
        waits.write_input(UUID(str(flow_run.id)), ENTRYPOINT_KEY, entrypoint)
    run_id = str(flow_run.id)
    with unless_on(flow_run, mission_name, on_start=lambda: runs.mark_alive(run_id)):
        yield


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
        token = NEXT_PREFIX.set(path + "/")
        try:
            return target.with_options(flow_run_name=path)(**(params or {}))
        finally:
            NEXT_PREFIX.reset(token)
    spec = _load(target)
    return _spec_group(scope, spec, params or {}, name or spec.name)


def _spec_group(
    scope: MissionScope, spec: MissionSpec, params: dict[str, Any], name: str
) -> dict[str, Any]:
    from autoagent import limits
    from autoagent.errors import SpecError
    from flows.mission import group
    from flows.outcomes import Scope
    from tasks.remote import check_pools

    check_pools(spec)
    limits.ensure(spec)
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise SpecError.for_params(spec.name, unknown, sorted(spec.params))
    inner = Scope(
        mission=spec.name,
        root_run_id=scope.root_run_id,
        params={**spec.params, **params},
        defaults=spec.defaults,
        prefix=scope.path(name) + "/",
        resuming=True,  # read persisted results first: this body may be a re-run
    )
    return group(steps=[s.model_dump(mode="json") for s in spec.steps], scope=inner.to_json())


def _load(target: str | Path | dict[str, Any]) -> MissionSpec:
    from autoagent.spec import load, validate_data

    return validate_data(target) if isinstance(target, dict) else load(target)


@dataclass
class Finished:
    """A mission run that ``run_spec`` drove to its end."""

    run_id: str
    state: State

    @property
    def ok(self) -> bool:
        return self.state.is_completed()

    def outputs(self) -> Any:
        """What the mission returned (a spec mission: each top-level step's output by id); sync
        even where an event loop runs, as in a notebook."""
        return self.state.result(raise_on_failure=True, _sync=True)  # type: ignore[call-arg]


def run(target: Flow[..., Any], /, **params: Any) -> Finished:
    """Run a ``@mission`` here to its end with ``params``: its run id and final state."""
    state = target(**params, return_state=True)
    return Finished(str(state.state_details.flow_run_id), state)


def run_spec(
    spec: str | Path | dict[str, Any] | MissionSpec,
    params: dict[str, Any] | None = None,
    *,
    auto_approve: bool = False,
) -> Finished | dict[str, Any]:
    """Run a spec from code. Outside a mission: a new mission run, driven here to its end (as
    ``autoagent run`` does). Inside a mission: a sub-mission; its outputs come back."""
    loaded = spec if isinstance(spec, MissionSpec) else _load(spec)
    scope = SCOPE.get()
    if scope is not None:
        return _spec_group(scope, loaded, params or {}, loaded.name)
    from autoagent import runs

    flow_run = runs.start(loaded, params or {}, auto_approve)
    return Finished(str(flow_run.id), runs.execute(flow_run))


def load_for_resume(flow_run: Any) -> Flow[..., Any]:
    """The ``@mission`` flow of a run written as code, imported from where its first attempt
    recorded it (from the current directory too, as ``python -m`` would)."""
    import os
    import sys

    from prefect.flows import load_flow_from_entrypoint

    from autoagent import waits
    from autoagent.errors import RunError

    entrypoint = waits.read_input(flow_run.id, ENTRYPOINT_KEY)
    if not entrypoint:
        raise RunError(
            f"run {flow_run.id} is a mission written as code in a script, a notebook or a"
            " function: there is nothing to import it from. Define it at the top of a module,"
            " or deploy it (a deployed run is resumed from its deployment)"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = load_flow_from_entrypoint(str(entrypoint), use_placeholder_flow=False)
    except Exception as exc:
        raise RunError(
            f"run {flow_run.id} is the mission {entrypoint}, which cannot be loaded here"
            f" ({type(exc).__name__}: {exc}): resume it from the directory its module is"
            " importable from"
        ) from None
    if not isinstance(found, Flow):
        raise RunError(f"{entrypoint} is not a @mission (run {flow_run.id})")
    return found
