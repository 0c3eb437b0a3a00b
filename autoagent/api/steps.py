"""Steps in code: ``@step`` functions and ``step("id", agent=...)``, durable by path.

A step's result persists on the saved results block under the same key a spec step gets (the
root mission run id, the step path, a hash of its input), and its retry policy becomes task
options the way a spec step's does (engine/policy.py).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

from prefect import Task, task
from prefect.concurrency.sync import concurrency as slots
from prefect.futures import PrefectFuture
from prefect.settings import PREFECT_API_URL
from prefect.utilities.annotations import quote

from autoagent.agents import AgentContext, run_agent
from autoagent.api.scope import MissionScope, completed, current_scope, require_scope
from autoagent.engine.compensation import Undo
from autoagent.engine.journal import journaled
from autoagent.engine.policy import RetryPolicy
from autoagent.engine.results import cache_key
from autoagent.engine.step import StepCall, step_task
from autoagent.engine.storage import result_storage
from autoagent.errors import AutoAgentError
from autoagent.spec import Defaults, RetryBackoff
from autoagent.spec import Step as SpecStep
from autoagent.spec.validate import validate_data

P = ParamSpec("P")
R = TypeVar("R")


class StepFunction(Generic[P, R]):
    """A function run as a durable step (``@step``): call it, ``submit`` it, or ``named`` it."""

    def __init__(
        self,
        function: Callable[P, R],
        *,
        name: str | None,
        policy: RetryPolicy,
        concurrency: str | None,
        compensate: Callable[[R], Any] | None,
    ):
        self.function = function
        self.name = name or function.__name__.replace("_", "-")
        self.compensate = compensate
        self.concurrency = concurrency
        self._signature = inspect.signature(function)
        self._task: Task[P, R] = journaled(
            task(
                _with_slot(function, concurrency),
                name=self.name,
                persist_result=True,
                **policy.task_options(agent_enforces_timeout=False),
            )
        )
        functools.update_wrapper(self, function)

    def named(self, name: str) -> StepFunction[P, R]:
        """The same step under another name: for calling one function as several steps."""
        renamed = object.__new__(StepFunction)
        renamed.__dict__.update(self.__dict__)
        renamed.name = name
        return renamed

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        path, prepared = self._prepare(args, kwargs)
        result = prepared(*args, **kwargs)
        self._remember(require_scope(path), path, result)
        return result

    def submit(self, *args: P.args, **kwargs: P.kwargs) -> PrefectFuture[R]:
        """Start the step in the mission's task runner (in parallel); ``.result()`` waits."""
        path, prepared = self._prepare(args, kwargs)
        future = prepared.submit(*args, **kwargs)
        if self.compensate is not None:  # in submission order; only if it completes
            undo = self.compensate
            scope = require_scope(path)
            scope.remember(Undo(path, lambda: undo(future.result()), applies=completed(future)))
        return future

    def _prepare(self, args: tuple, kwargs: dict) -> tuple[str, Task[P, R]]:
        scope = require_scope(f"step {self.name!r}")
        path = scope.path(self.name)
        if self.concurrency is not None:
            scope.limit(self.concurrency, path)
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
        scope.remember(Undo(path, lambda: undo(result)))


@overload
def step(fn: Callable[P, R]) -> StepFunction[P, R]: ...
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
) -> Callable[[Callable[P, R]], StepFunction[P, R]]: ...
def step(fn: Any = None, **options: Any) -> Any:
    """A durable step, three ways:

    - ``@step`` or ``@step(retries=3, retry_on=[...], timeout=30, concurrency="llm",
      compensate=undo)`` makes a function a step (``undo(result)`` runs if the mission fails);
    - ``step("id", agent="shell", input={...}, retries=..., runs_on=..., compensate={agent,
      input})`` runs a registered agent as a spec step would, and returns its output.
    """
    if isinstance(fn, str):
        return _agent_step(fn, **options)
    made = _options(options)
    if fn is not None:
        return StepFunction(fn, name=None, **made)
    return lambda function: StepFunction(function, name=options.get("name"), **made)


def _options(options: dict[str, Any]) -> dict[str, Any]:
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
    policy = RetryPolicy.given(
        retries=options.get("retries", 0),
        retry_backoff=options.get("retry_backoff"),
        retry_on=options.get("retry_on"),
        timeout=options.get("timeout"),
    )
    return {
        "policy": policy,
        "concurrency": options.get("concurrency"),
        "compensate": options.get("compensate"),
    }


def _agent_step(step_id: str, *, agent: str, input: dict[str, Any] | None = None, **rest: Any):
    """Run one agent as the spec step ``{id, agent, input, ...}`` would, validated the same way."""
    scope = require_scope(f"step {step_id!r}")
    spec_step = _validated_step({"id": step_id, "agent": agent, "input": input or {}, **rest})
    path = scope.path(step_id)
    if spec_step.concurrency is not None:
        scope.limit(spec_step.concurrency, path)
    policy = RetryPolicy.of(spec_step, Defaults())
    runner = journaled(step_task(policy, str(PREFECT_API_URL.value()), agent=agent))
    call = StepCall(
        mission=scope.mission,
        root_run_id=scope.root_run_id,
        path=path,
        agent=agent,
        input=spec_step.input or {},
        timeout=spec_step.timeout,
        concurrency=spec_step.concurrency,
        runs_on=spec_step.runs_on,
    )
    output = runner(call=quote(call))
    if spec_step.compensate is not None:
        undo = spec_step.compensate
        ctx = AgentContext(mission=scope.mission, step_path=path, run_id=scope.root_run_id)
        action = functools.partial(run_agent, undo.agent, ctx, undo.input or {})
        scope.remember(Undo(path, action, basis=undo.input))
    return output


def _validated_step(data: dict[str, Any]) -> SpecStep:
    """The step checked by the spec's own rules (agent known, input fits, fields known)."""
    scope = current_scope()
    mission_name = scope.mission if scope else "code"
    limits = scope.limits if scope else {}
    fragment = {"name": _slug(mission_name), "concurrency": limits, "steps": [data]}
    return validate_data(fragment).steps[0]


def _with_slot(function: Callable[P, R], concurrency: str | None) -> Callable[P, R]:
    if concurrency is None:
        return function

    @functools.wraps(function)
    def held(*args: P.args, **kwargs: P.kwargs) -> R:
        with slots(concurrency, occupy=1, strict=True):
            return function(*args, **kwargs)

    return held


def _plain(arguments: dict[str, Any]) -> Any:
    """Arguments as JSON for the input hash (other values by their repr, stable for a body that
    is deterministic)."""
    return json.loads(json.dumps(arguments, sort_keys=True, default=repr))


def _slug(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()).strip("-_")
    return cleaned or "code"
