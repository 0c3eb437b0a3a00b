"""The step task: run one step through its agent, durably.

The result is persisted under a key made of the root mission run id, the step path (group path and
for_each index included) and a hash of the resolved input, so a resumed mission finds the result
of every completed step and never runs it again (design.md section 6).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import defaultdict
from functools import lru_cache
from typing import Any

from prefect import Task, task
from prefect.client.schemas.objects import TaskRun
from prefect.context import TaskRunContext
from prefect.states import Completed, State

from autoagent.agents import AgentContext, get_agent, run_agent
from autoagent.errors import StepError
from autoagent.spec import RetryBackoff

SKIPPED = "Skipped"

attempts: dict[tuple[str, str], int] = defaultdict(int)
"""Attempts seen in this process, by (root run id, step path): read by the report."""
_attempts_lock = threading.Lock()


def step_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    if parameters.get("skip") or parameters.get("input_error"):
        return None
    return cache_key(parameters["root_run_id"], parameters["path"], parameters["input"])


def cache_key(root_run_id: str, path: str, resolved_input: Any) -> str:
    digest = hashlib.sha256(
        json.dumps(resolved_input, sort_keys=True, default=str).encode()
    ).hexdigest()[:24]
    return f"{root_run_id}/{path}/{digest}"


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
        return Completed(name=SKIPPED, message="skipped: its 'when' was false")
    if input_error:
        raise StepError(input_error, kind="expression", retryable=False)
    if attempt is None:
        run_context = TaskRunContext.get()
        attempt = run_context.task_run.run_count if run_context else 1
    with _attempts_lock:
        attempts[(root_run_id, path)] += 1
    if runs_on is not None:
        from tasks import remote

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
    from prefect.concurrency.sync import concurrency as slots

    with slots(concurrency, occupy=1, strict=True):  # held while the agent works, not between tries
        return run_agent(get_agent(agent), ctx, input or {})


STEP_TASK = "step"


class _QuietSuccess(logging.Filter):
    """Drop the engine's "Finished in state Completed()" line of a step that succeeded: its state
    says as much, and the line cost ~1 ms of a step's CPU (a fan-out of 200 ran 0.2 s faster
    without it) plus a log row on the server. A failed step's line stays: it carries the error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.INFO
            and getattr(record, "task_name", None) == STEP_TASK
            and isinstance(record.msg, str)
            and record.msg.startswith("Finished in state ")
        )


logging.getLogger("prefect.task_runs").addFilter(_QuietSuccess())

run_step: Task[..., Any] = task(
    _run_step,
    name=STEP_TASK,
    task_run_name="{path}",
    persist_result=True,
    result_serializer="json",
    cache_key_fn=step_cache_key,
)

run_step_here: Task[..., Any] = task(
    _run_step, name=STEP_TASK, task_run_name="{path}", persist_result=False
)
"""The same step with nothing persisted: for the child run of a ``runs_on`` step, whose parent
persists the output."""


def retry_condition(retry_on: tuple[str, ...] | None):
    """Retry only StepErrors that are retryable and, when given, of a kind in ``retry_on``."""

    def should_retry(task: Task[..., Any], task_run: TaskRun, state: State) -> bool:
        try:
            state.result(raise_on_failure=True)
        except StepError as exc:
            return exc.retryable and (retry_on is None or exc.kind in retry_on)
        except Exception:
            return retry_on is None or "error" in retry_on
        return False

    return should_retry


@lru_cache(maxsize=4096)
def configured(
    retries: int,
    backoff: RetryBackoff,
    retry_on: tuple[str, ...] | None,
    timeout: float | None,
    api_url: str,
    lookup: bool = True,
) -> Task[..., Any]:
    """The step task with one step's policy; cached so each distinct policy is built once (per API
    URL: the results block it persists to belongs to that server).

    ``lookup=False``: the engine writes the result under its key but never looks the key up, for
    a caller that reads it itself first (the scheduler does on a resume; a first run has none).
    The engine's lookup was a file-system miss on every step of a first run."""
    from blocks.storage import result_storage

    return run_step.with_options(
        refresh_cache=True if not lookup else None,  # None: Prefect's setting decides
        retries=retries,
        retry_delay_seconds=backoff.delays(retries) if retries else 0,
        retry_jitter_factor=backoff.jitter or None,
        retry_condition_fn=retry_condition(retry_on),
        timeout_seconds=timeout + 5 if timeout else None,
        result_storage=result_storage(),
    )


def materializing(step_task: Task[..., Any], asset: str, upstream: list[str]) -> Task[..., Any]:
    """The step task as a Prefect materialization (``@materialize``) of ``asset``, built from
    ``upstream``: the server records the lineage when it completes (not when it is a cache hit)."""
    from prefect.tasks import MaterializingTask

    return MaterializingTask(
        fn=step_task.fn,
        assets=[asset],
        asset_deps=upstream or None,
        name=step_task.name,
        task_run_name=step_task.task_run_name,
        persist_result=True,
        result_serializer="json",
        result_storage=step_task.result_storage,
        cache_key_fn=step_task.cache_key_fn,
        refresh_cache=step_task.refresh_cache,
        retries=step_task.retries,
        retry_delay_seconds=step_task.retry_delay_seconds,
        retry_jitter_factor=step_task.retry_jitter_factor,
        retry_condition_fn=step_task.retry_condition_fn,
        timeout_seconds=step_task.timeout_seconds,
    )
