"""The step task: run one step through its agent, durably.

The result is persisted under ``results.cache_key`` (root mission run id, step path, hash of the
resolved input), so a resumed mission finds the result of every completed step and never runs it
again (design.md section 6). A step with ``asset:`` is the same task as a Prefect
materialization; one with ``runs_on:`` runs its agent in a child run on that work pool.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from prefect import Task, task
from prefect.assets import materialize
from prefect.concurrency.sync import concurrency as slots
from prefect.context import TaskRunContext
from prefect.states import Completed

from autoagent.agents import AgentContext, get_agent, run_agent
from autoagent.engine import remote
from autoagent.engine.journal import current_journal
from autoagent.engine.outcome import SKIPPED_TASK_STATE
from autoagent.engine.policy import RetryPolicy
from autoagent.engine.results import cache_key
from autoagent.engine.storage import result_storage
from autoagent.errors import StepError

STEP_TASK = "step"


def step_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    if parameters.get("skip") or parameters.get("input_error"):
        return None
    return cache_key(parameters["root_run_id"], parameters["path"], parameters["input"])


def _run_step(
    *,
    mission: str,
    root_run_id: str,
    path: str,
    agent: str,
    input: Any,
    timeout: float | None = None,
    skip: bool = False,
    input_error: str | None = None,
    concurrency: str | None = None,
    runs_on: str | None = None,
    attempt: int | None = None,
    process_run_id: str = "",
    params: dict[str, Any] | None = None,
) -> Any:
    if skip:
        return Completed(name=SKIPPED_TASK_STATE, message="skipped: its 'when' was false")
    if input_error:
        raise StepError(input_error, kind="expression", retryable=False)
    if attempt is None:
        run_context = TaskRunContext.get()
        attempt = run_context.task_run.run_count if run_context else 1
    journal = current_journal()
    if journal is not None:
        journal.attempt(path)
    if runs_on is not None:
        parameters = {
            "mission": mission,
            "root_run_id": root_run_id,
            "path": path,
            "agent": agent,
            "input": input,
            "timeout": timeout,
            "concurrency": concurrency,
            "attempt": attempt,
        }
        key = cache_key(root_run_id, path, input)
        return remote.run_on(runs_on, cache_key=key, attempt=attempt, parameters=parameters)
    ctx = AgentContext(
        mission=mission,
        step_path=path,
        run_id=root_run_id,
        attempt=attempt,
        timeout=timeout,
        process_run_id=process_run_id,
        params=params or {},
    )
    if concurrency is None:
        return run_agent(get_agent(agent), ctx, input or {})
    with slots(concurrency, occupy=1, strict=True):  # held while the agent works, not between tries
        return run_agent(get_agent(agent), ctx, input or {})


class _QuietSuccess(logging.Filter):
    """Drop the engine's "Finished in state Completed()" line of a step that succeeded: its state
    says as much, and the line cost ~1 ms of a step's CPU (a fan-out of 200 ran 0.2 s faster
    without it) plus a log row on the server. Prefect has no setting for that one line (its
    level is INFO, as a user's own task logs are), so its text is matched, for step tasks only.
    A failed step's line stays: it carries the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.INFO
            and getattr(record, "task_name", None) == STEP_TASK
            and isinstance(record.msg, str)
            and record.msg.startswith("Finished in state ")
        )


logging.getLogger("prefect.task_runs").addFilter(_QuietSuccess())

STEP_OPTIONS: dict[str, Any] = {
    "name": STEP_TASK,
    "task_run_name": "{path}",
    "persist_result": True,
    "result_serializer": "json",
    "cache_key_fn": step_cache_key,
}
"""What every step task is, whatever its policy: named by its path, its result persisted."""

run_step: Task[..., Any] = task(_run_step, **STEP_OPTIONS)

run_step_here: Task[..., Any] = task(
    _run_step, name=STEP_TASK, task_run_name="{path}", persist_result=False
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
) -> Task[..., Any]:
    """The step task with one step's policy, built once per distinct policy and asset (per API
    URL: the results block it persists to belongs to that server).

    ``lookup=False``: the engine writes the result under its key but never looks the key up, for
    a caller that reads it itself first (the scheduler does on a resume; a first run has none).
    The engine's lookup was a file-system miss on every step of a first run. With ``asset``, the
    task is a Prefect materialization of it, built from ``upstream`` (``@materialize``): the
    server records the lineage when it completes (not when it is a cache hit)."""
    options = {
        **policy.task_options(agent_enforces_timeout=True),
        "refresh_cache": True if not lookup else None,  # None: Prefect's setting decides
        "result_storage": result_storage(),
    }
    if asset is None:
        return run_step.with_options(**options)
    made = materialize(asset, asset_deps=list(upstream) or None, **STEP_OPTIONS)(_run_step)
    return made.with_options(**options)
