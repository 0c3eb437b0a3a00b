"""The step task: run one step through its agent, durably.

The result is persisted under ``results.cache_key`` (root mission run id, step path, hash of the
resolved input), so a resumed mission finds the result of every completed step and never runs it
again (design.md section 6). A step with ``asset:`` is the same task as a Prefect
materialization; one with ``runs_on:`` runs its agent in a child run on that work pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from prefect import Task, task
from prefect.assets import materialize
from prefect.concurrency.sync import concurrency as slots
from prefect.context import TaskRunContext
from prefect.states import Cancelled, Failed, Paused
from prefect.transactions import get_transaction
from prefect.utilities.annotations import quote

from autoagent.agents import AgentContext, get_agent, run_agent
from autoagent.engine import narrate, remote
from autoagent.engine.conversation import Conversation, converse
from autoagent.engine.journal import current_journal, keep_run
from autoagent.engine.outcome import SKIPPED_TASK_STATE
from autoagent.engine.policy import RetryPolicy
from autoagent.engine.results import cache_key
from autoagent.engine.storage import result_storage
from autoagent.errors import StepError, SuspendedWait
from autoagent.server.fencing import hold

STEP_TASK = "step"
FAN_IN_TASK = "for_each"
WAIT_TASKS = ("approval", "event", "wait", "wait-deadline")
"""The tasks of a step that waits (engine/ask.py, engine/timer.py)."""


@dataclass(frozen=True)
class StepCall:
    """What one step task is asked to do: its only argument, passed quoted (``call()``).

    Prefect draws a run graph's edges from a task's inputs, and it links any argument that is
    (or has the id of) another task's result, so internal arguments drew false edges. Quoted,
    this argument draws none: a step's edges are its ``wait_for``, the states of its needs."""

    mission: str
    root_run_id: str
    path: str
    agent: str
    input: Any = None
    timeout: float | None = None
    not_run: str | None = None
    """Why the step does not run (its ``when`` was false, a need failed): its state says so."""
    not_run_state: str = SKIPPED_TASK_STATE
    input_error: str | None = None
    concurrency: str | None = None
    runs_on: str | None = None
    attempt: int | None = None
    process_run_id: str = ""
    params: dict[str, Any] | None = None
    conversation: Conversation | None = None
    """For a step that runs one of the mission's LLM agents (engine/conversation.py)."""

    def quoted(self) -> quote[StepCall]:
        return quote(self)


def step_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    call: StepCall = parameters["call"]
    if call.not_run or call.input_error:
        return None
    return cache_key(call.root_run_id, call.path, call.input)


def run_call(call: StepCall) -> Any:
    """Run one step (or one item of a batch) as ``call`` says: its agent, here or on its work
    pool, holding its concurrency slot; a State when it does not run or suspends."""
    if call.not_run:
        return Cancelled(name=call.not_run_state, message=call.not_run)
    if call.input_error:
        raise StepError(call.input_error, kind="expression", retryable=False)
    attempt = call.attempt
    if attempt is None:
        run_context = TaskRunContext.get()
        attempt = run_context.task_run.run_count if run_context else 1
    hold()  # a process that lost its run starts no step (server/fencing.py)
    journal = current_journal()
    if journal is not None:
        journal.attempt(call.path)
    if call.runs_on is not None:
        parameters = {
            "mission": call.mission,
            "root_run_id": call.root_run_id,
            "path": call.path,
            "agent": call.agent,
            "input": call.input,
            "timeout": call.timeout,
            "concurrency": call.concurrency,
            "attempt": attempt,
        }
        key = cache_key(call.root_run_id, call.path, call.input)
        return remote.run_on(call.runs_on, cache_key=key, attempt=attempt, parameters=parameters)
    ctx = AgentContext(
        mission=call.mission,
        step_path=call.path,
        run_id=call.root_run_id,
        attempt=attempt,
        timeout=call.timeout,
        process_run_id=call.process_run_id,
        params=call.params or {},
    )
    if call.concurrency is None:
        output = _work(call, ctx)
    else:
        with slots(call.concurrency, occupy=1, strict=True):  # held while the agent works only
            output = _work(call, ctx)
    hold()  # ...and counts no result
    return output


def _work(call: StepCall, ctx: AgentContext) -> Any:
    if call.conversation is not None:
        try:
            return converse(ctx, call.conversation, (call.input or {})["prompt"])
        except SuspendedWait as wait:  # the run is suspended: this attempt ends, waiting
            transaction = get_transaction()
            if transaction is not None:  # no result: the resumed mission runs the step again
                transaction.write_on_commit = False
            return Paused(message=str(wait))
    return run_agent(get_agent(call.agent), ctx, call.input or {})


def _path_of(parameters: dict[str, Any]) -> str:
    return parameters["call"].path


narrate.quiet_engine(STEP_TASK, FAN_IN_TASK, *WAIT_TASKS)

AGENT_TAG = "agent:"
STEP_OPTIONS: dict[str, Any] = {
    "name": STEP_TASK,
    "task_run_name": _path_of,
    "persist_result": True,
    "result_serializer": "json",
    "cache_key_fn": step_cache_key,
    "on_completion": [keep_run],
    "on_failure": [narrate.failed_hook, keep_run],
}
"""What every step task is, whatever its policy: named by its path, its result persisted."""

run_step: Task[..., Any] = task(run_call, **STEP_OPTIONS)


def _fan_in(*, path: str, failed: str | None) -> Any:
    return Failed(message=failed) if failed else None


fan_in: Task[..., Any] = task(
    _fan_in,
    name=FAN_IN_TASK,
    task_run_name="{path}",
    persist_result=False,
    on_completion=[keep_run],
    on_failure=[keep_run],
)
"""A fan-out's parent, as its own node of the run graph: after its items, before what needs it."""

run_step_here: Task[..., Any] = task(
    run_call,
    name=STEP_TASK,
    task_run_name=_path_of,
    persist_result=False,
    on_failure=[narrate.failed_hook],
)
"""The same step with nothing persisted: for the child run of a ``runs_on`` step, whose parent
persists the output."""


@lru_cache(maxsize=1024)
def step_task(
    policy: RetryPolicy,
    api_url: str,
    *,
    lookup: bool = True,
    asset: str | None = None,
    upstream: tuple[str, ...] = (),
    agent: str | None = None,
) -> Task[..., Any]:
    """The step task with one step's policy, built once per distinct policy and asset (per API
    URL: the results block it persists to belongs to that server).

    ``lookup=False``: the engine writes the result under its key but never looks the key up, for
    a caller that reads it itself first (the scheduler does on a resume; a first run has none).
    The engine's lookup was a file-system miss on every step of a first run. With ``asset``, the
    task is a Prefect materialization of it, built from ``upstream`` (``@materialize``): the
    server records the lineage when it completes (not when it is a cache hit). ``agent``
    tags its task runs ``agent:<name>``: the metrics count steps by agent."""
    options = {
        **policy.task_options(agent_enforces_timeout=True),
        "tags": [f"{AGENT_TAG}{agent}"] if agent else None,
        "refresh_cache": True if not lookup else None,  # None: Prefect's setting decides
        "result_storage": result_storage(),
    }
    if asset is None:
        return run_step.with_options(**options)
    made = materialize(asset, asset_deps=list(upstream) or None, **STEP_OPTIONS)(run_call)
    return made.with_options(**options)
