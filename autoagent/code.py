"""Missions as Python code: ``@mission``, ``@step`` / ``step(...)``, ``sub_mission``, ``run_spec``.

A ``@mission`` is a Prefect flow with AutoAgent's durable defaults; its steps are Prefect tasks
whose results persist on the saved results block under the same key a spec step gets: the root
mission run id, the step path and a hash of the step's input. So a retried or resumed run on the
same flow run id finds every completed step and runs none of them again, and the body must be
deterministic (design.md section 2): side effects belong in steps.

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
import json
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar, overload

from prefect import Flow, Task, flow, task
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture
from prefect.states import State

from autoagent.errors import AutoAgentError
from autoagent.spec import MissionSpec, RetryBackoff

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class _Undo:
    path: str
    run: Callable[[], Any]
    applies: Callable[[], bool] = lambda: True  # a submitted step: only if it completed


@dataclass
class MissionScope:
    """Where code runs: the root mission run (whose id keys every step) and the path prefix."""

    mission: str
    root_run_id: str
    prefix: str = ""
    undos: list[_Undo] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def path(self, name: str) -> str:
        return self.prefix + name


_SCOPE: ContextVar[MissionScope | None] = ContextVar("autoagent_mission_scope", default=None)
_NEXT_PREFIX: ContextVar[str | None] = ContextVar("autoagent_next_prefix", default=None)


def current_scope() -> MissionScope | None:
    """The scope of the mission running in this context (None outside missions)."""
    return _SCOPE.get()


def _require_scope(what: str) -> MissionScope:
    scope = _SCOPE.get()
    if scope is None:
        raise AutoAgentError(f"{what} must run inside a @mission")
    return scope


# -- @mission -------------------------------------------------------------------------------------
@overload
def mission(fn: Callable[P, R]) -> Flow[P, R]: ...
@overload
def mission(
    fn: None = None, *, name: str | None = None, **flow_options: Any
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...
def mission(fn: Callable[P, R] | None = None, *, name: str | None = None, **flow_options: Any):
    """Make a function a mission: a Prefect flow whose steps are durable (see the module).

    At the top it heartbeats (crash detection, ``autoagent resume``) and, if the body fails, runs
    the compensations of its completed steps newest first, each at most once. Called inside another
    mission it is a sub-mission: its steps' paths take its name as a prefix.
    """

    def decorate(function: Callable[P, R]) -> Flow[P, R]:
        mission_name = name or function.__name__.replace("_", "-")
        entrypoint = _entrypoint(function)

        @functools.wraps(function)
        def body(*args: P.args, **kwargs: P.kwargs) -> R:
            context = FlowRunContext.get()
            assert context is not None and context.flow_run is not None
            parent = _SCOPE.get()
            if parent is None:
                scope = MissionScope(mission_name, str(context.flow_run.id))
            else:
                prefix = _NEXT_PREFIX.get() or parent.path(mission_name) + "/"
                scope = MissionScope(mission_name, parent.root_run_id, prefix, parent.undos)
            token, consumed = _SCOPE.set(scope), _NEXT_PREFIX.set(None)
            try:
                if parent is not None:
                    return function(*args, **kwargs)
                with _top_level(context.flow_run, mission_name, entrypoint):
                    try:
                        return function(*args, **kwargs)
                    except Exception:
                        _compensate_all(scope)
                        raise
            finally:
                _NEXT_PREFIX.reset(consumed)
                _SCOPE.reset(token)

        options = {"persist_result": False, "log_prints": True, **flow_options}
        return flow(body, name=mission_name, **options)

    return decorate(fn) if fn is not None else decorate


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

    tags = sorted({*(flow_run.tags or []), "autoagent", f"mission:{mission_name}"})
    with runs._client() as client:
        client.update_flow_run(flow_run.id, tags=tags)
    if entrypoint is not None:
        waits.write_input(UUID(str(flow_run.id)), ENTRYPOINT_KEY, entrypoint)
    run_id = str(flow_run.id)
    with unless_on(flow_run, mission_name, on_start=lambda: runs.mark_alive(run_id)):
        yield


# -- steps ----------------------------------------------------------------------------------------
class Step(Generic[P, R]):
    """A function run as a durable step (``@step``): call it, ``submit`` it, or ``named`` it."""

    def __init__(
        self,
        function: Callable[P, R],
        *,
        name: str | None,
        retries: int,
        retry_backoff: RetryBackoff,
        retry_on: list[str] | None,
        timeout: float | None,
        concurrency: str | None,
        compensate: Callable[[R], Any] | None,
    ):
        self.function = function
        self.name = name or function.__name__.replace("_", "-")
        self.compensate = compensate
        self._signature = inspect.signature(function)
        self._task: Task[P, R] = task(
            _with_slot(function, concurrency),
            name=self.name,
            retries=retries,
            retry_delay_seconds=retry_backoff.delays(retries) if retries else 0,
            retry_jitter_factor=retry_backoff.jitter or None,
            retry_condition_fn=_retry_condition(retry_on),
            timeout_seconds=timeout,
            persist_result=True,
        )
        functools.update_wrapper(self, function)

    def named(self, name: str) -> Step[P, R]:
        """The same step under another name: for calling one function as several steps."""
        renamed = object.__new__(Step)
        renamed.__dict__.update(self.__dict__)
        renamed.name = name
        return renamed

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        path, prepared = self._prepare(args, kwargs)
        result = prepared(*args, **kwargs)
        self._remember(_require_scope(path), path, result)
        return result

    def submit(self, *args: P.args, **kwargs: P.kwargs) -> PrefectFuture[R]:
        """Start the step in the mission's task runner (in parallel); ``.result()`` waits."""
        path, prepared = self._prepare(args, kwargs)
        future = prepared.submit(*args, **kwargs)
        if self.compensate is not None:  # in submission order; only if it completes
            undo = self.compensate
            scope = _require_scope(path)
            with scope.lock:
                scope.undos.append(
                    _Undo(path, lambda: undo(future.result()), lambda: _completed(future))
                )
        return future

    def _prepare(self, args: tuple, kwargs: dict) -> tuple[str, Task[P, R]]:
        from blocks.storage import result_storage
        from tasks.step import cache_key

        scope = _require_scope(f"step {self.name!r}")
        path = scope.path(self.name)
        bound = self._signature.bind(*args, **kwargs)
        key = cache_key(scope.root_run_id, path, _plain(dict(bound.arguments)))
        return path, self._task.with_options(
            task_run_name=path,
            cache_key_fn=lambda *_: key,
            result_storage=result_storage(),
        )

    def _remember(self, scope: MissionScope, path: str, result: Any) -> None:
        if self.compensate is None:
            return
        undo = self.compensate
        _remember(scope, path, lambda: undo(result))


@overload
def step(fn: Callable[P, R]) -> Step[P, R]: ...
@overload
def step(
    fn: str,
    *,
    agent: str,
    input: dict[str, Any] | None = None,
    retries: int = 0,
    retry_backoff: RetryBackoff | dict[str, Any] | None = None,
    retry_on: list[str] | None = None,
    timeout: float | None = None,
    concurrency: str | None = None,
    runs_on: str | None = None,
    compensate: dict[str, Any] | None = None,
) -> Any: ...
@overload
def step(
    fn: None = None,
    *,
    name: str | None = None,
    retries: int = 0,
    retry_backoff: RetryBackoff | dict[str, Any] | None = None,
    retry_on: list[str] | None = None,
    timeout: float | None = None,
    concurrency: str | None = None,
    compensate: Callable[[Any], Any] | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...
def step(fn: Any = None, **options: Any) -> Any:
    """A durable step, three ways:

    - ``@step`` or ``@step(retries=3, retry_on=[...], timeout=30, concurrency="llm",
      compensate=undo)`` makes a function a step (``undo(result)`` runs if the mission fails);
    - ``step("id", agent="shell", input={...}, retries=..., runs_on=..., compensate={agent,
      input})`` runs a registered agent as a spec step would, and returns its output.
    """
    if isinstance(fn, str):
        return _agent_step(fn, **options)
    policy = _policy(options)
    if fn is not None:
        return Step(fn, name=None, **policy)
    return lambda function: Step(function, name=options.get("name"), **policy)


def _policy(options: dict[str, Any]) -> dict[str, Any]:
    unknown = set(options) - {
        "name",
        "retries",
        "retry_backoff",
        "retry_on",
        "timeout",
        "concurrency",
        "compensate",
    }
    if unknown:
        raise AutoAgentError(f"@step does not take {', '.join(sorted(unknown))}")
    backoff = options.get("retry_backoff") or RetryBackoff()
    return {
        "retries": options.get("retries", 0),
        "retry_backoff": RetryBackoff.model_validate(backoff),
        "retry_on": options.get("retry_on"),
        "timeout": options.get("timeout"),
        "concurrency": options.get("concurrency"),
        "compensate": options.get("compensate"),
    }


def _agent_step(step_id: str, *, agent: str, input: dict[str, Any] | None = None, **rest: Any):
    """Run one agent as the spec step ``{id, agent, input, ...}`` would, validated the same way."""
    from prefect.settings import PREFECT_API_URL

    from autoagent.spec import Step as SpecStep
    from tasks.step import configured

    scope = _require_scope(f"step {step_id!r}")
    spec_step = _validated_step({"id": step_id, "agent": agent, "input": input or {}, **rest})
    assert isinstance(spec_step, SpecStep)
    backoff = spec_step.retry_backoff or RetryBackoff()
    retries = spec_step.retries or 0
    retry_on = tuple(spec_step.retry_on) if spec_step.retry_on is not None else None
    runner = configured(retries, backoff, retry_on, spec_step.timeout, str(PREFECT_API_URL.value()))
    path = scope.path(step_id)
    output = runner(
        mission=scope.mission,
        root_run_id=scope.root_run_id,
        path=path,
        agent=agent,
        input=spec_step.input or {},
        timeout=spec_step.timeout,
        concurrency=spec_step.concurrency,
        runs_on=spec_step.runs_on,
    )
    if spec_step.compensate is not None:
        undo = spec_step.compensate
        _remember(
            scope, path, lambda: _run_agent(scope, path + "#compensate", undo.agent, undo.input)
        )
    return output


def _validated_step(data: dict[str, Any]) -> Any:
    """The step checked by the spec's own rules (agent known, input fits, fields known)."""
    from autoagent.spec import validate_data

    scope = _SCOPE.get()
    mission_name = scope.mission if scope else "code"
    return validate_data({"name": _slug(mission_name), "steps": [data]}).steps[0]


def _run_agent(scope: MissionScope, path: str, agent: str, agent_input: Any) -> Any:
    from autoagent.agents import AgentContext, get_agent, run_agent

    ctx = AgentContext(mission=scope.mission, step_path=path, run_id=scope.root_run_id)
    return run_agent(get_agent(agent), ctx, agent_input or {})


# -- compensation ---------------------------------------------------------------------------------
def _remember(scope: MissionScope, path: str, run: Callable[[], Any]) -> None:
    with scope.lock:
        scope.undos.append(_Undo(path, run))


def _compensate_all(scope: MissionScope) -> None:
    """Newest first, each at most once across crashes (the same marker as spec sagas)."""
    from uuid import UUID

    from autoagent import waits
    from tasks.compensate import started_key

    for undo in reversed(scope.undos):
        if not undo.applies():
            continue
        if not waits.write_input(
            UUID(scope.root_run_id), started_key(undo.path), {"path": undo.path}
        ):
            continue  # started before a crash: never twice
        try:
            task(name="compensate", task_run_name=f"{undo.path}#compensate")(undo.run)()
        except Exception as exc:  # reported; one failed undo must not stop the others
            _logger().error("the compensation of %r failed: %s", undo.path, exc)


def _completed(future: PrefectFuture[Any]) -> bool:
    future.wait()
    return future.state.is_completed()


def _logger() -> Any:
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except Exception:
        import logging

        return logging.getLogger("autoagent.code")


# -- sub-missions and specs -----------------------------------------------------------------------
def sub_mission(
    target: Flow[..., Any] | str | Path | dict[str, Any],
    params: dict[str, Any] | None = None,
    *,
    name: str | None = None,
) -> Any:
    """Run a child mission inside this one, as a subflow: a ``@mission`` (called with ``params``
    as keyword arguments) or a spec (a path or a dict; its outputs by step id come back). Its steps'
    paths start with ``name/`` (default: the child's name), so a resume finds them."""
    scope = _require_scope("sub_mission")
    if isinstance(target, Flow):
        child_name = name or target.name
        path = scope.path(child_name)
        token = _NEXT_PREFIX.set(path + "/")
        try:
            return target.with_options(flow_run_name=path)(**(params or {}))
        finally:
            _NEXT_PREFIX.reset(token)
    spec = _load(target)
    return _spec_group(scope, spec, params or {}, name or spec.name)


def _spec_group(
    scope: MissionScope, spec: MissionSpec, params: dict[str, Any], name: str
) -> dict[str, Any]:
    from autoagent import limits
    from autoagent.errors import SpecError
    from autoagent.runs import refuse_unsupported
    from flows.mission import group
    from flows.outcomes import Scope
    from tasks.remote import check_pools

    refuse_unsupported(spec)
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
    scope = _SCOPE.get()
    if scope is not None:
        return _spec_group(scope, loaded, params or {}, loaded.name)
    from autoagent import runs

    flow_run = runs.start(loaded, params or {}, auto_approve)
    return Finished(str(flow_run.id), runs.execute(flow_run))


# -- helpers --------------------------------------------------------------------------------------
def _with_slot(function: Callable[P, R], concurrency: str | None) -> Callable[P, R]:
    if concurrency is None:
        return function

    @functools.wraps(function)
    def held(*args: P.args, **kwargs: P.kwargs) -> R:
        from prefect.concurrency.sync import concurrency as slots

        with slots(concurrency, occupy=1, strict=True):
            return function(*args, **kwargs)

    return held


def _retry_condition(retry_on: list[str] | None) -> Any:
    from tasks.step import retry_condition

    return retry_condition(tuple(retry_on) if retry_on is not None else None)


def _plain(arguments: dict[str, Any]) -> Any:
    """Arguments as JSON for the input hash (other values by their repr, stable for a body that
    is deterministic)."""
    return json.loads(json.dumps(arguments, sort_keys=True, default=repr))


def _slug(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()).strip("-_")
    return cleaned or "code"
