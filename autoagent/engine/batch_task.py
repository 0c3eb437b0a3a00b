"""The batch task of a large fan-out (engine/batches.py): one task run that runs a batch of
items on the fan-out's item pool, each tried by the step's retry policy and recorded under its own
key, and leaves a table artifact with each item's state, attempts, seconds and error.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from prefect import Task, task
from prefect.client.schemas.actions import ArtifactCreate
from prefect.context import TaskRunContext
from prefect.logging import get_run_logger
from prefect.states import Failed, Paused, State

from autoagent.engine import narrate
from autoagent.engine.journal import keep_run
from autoagent.engine.outcome import COMPLETED, FAILED, SUSPENDED, failed_items
from autoagent.engine.policy import RetryPolicy
from autoagent.engine.results import Results
from autoagent.engine.step import StepCall, run_call
from autoagent.errors import StepError
from autoagent.server.client import client

logger = logging.getLogger("autoagent.batches")

BATCH_TASK = "for_each-batch"


@dataclass
class ItemRun:
    """What became of one item of a batch: a row of its table artifact."""

    index: int
    path: str
    state: str
    output: Any = None
    error: str | None = None
    kind: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    cached: bool = False

    def row(self) -> dict[str, Any]:
        return {
            "item": self.path,
            "state": self.state,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "cached": self.cached,
            "error": self.error or "",
        }


@dataclass
class Batch:
    """What one batch task run is asked to do: its only argument, passed quoted (no graph edge,
    nothing hashed). ``runs`` is filled in as its items end."""

    name: str
    calls: list[tuple[int, StepCall]]
    """Each item still to run: its index in the fan-out, and what to run."""
    policy: RetryPolicy
    pool: ThreadPoolExecutor
    results: Results
    basis: list[Any]
    found: list[ItemRun] = field(default_factory=list)
    """Items a resume found recorded: they do not run again."""
    runs: list[ItemRun] = field(default_factory=list)


def run_item(call: StepCall, policy: RetryPolicy, results: Results, index: int) -> ItemRun:
    """Try one item by the step's policy; record its result under its own key when it completes."""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            output = run_call(replace(call, attempt=attempt))
            if isinstance(output, State):  # a wait inside it suspended the mission
                return ItemRun(index, call.path, SUSPENDED, attempts=attempt)
            results.record(call.path, call.input, output)
        except Exception as exc:
            if policy.retries_after(exc, attempt):
                pause = policy.delay(attempt)
                _log().warning(
                    "%s attempt %d failed (%s); retrying in %.2fs", call.path, attempt, exc, pause
                )
                time.sleep(pause)
                continue
            kind = exc.kind if isinstance(exc, StepError) else "error"
            seconds = time.monotonic() - started
            return ItemRun(
                index,
                call.path,
                FAILED,
                error=str(exc),
                kind=kind,
                attempts=attempt,
                seconds=seconds,
            )
        return ItemRun(
            index,
            call.path,
            COMPLETED,
            output=output,
            attempts=attempt,
            seconds=time.monotonic() - started,
        )


def _log() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except Exception:
        return logger


def run_items(batch: Batch) -> Any:
    """The batch task's body: run its items, post their table, record the batch if all ended."""
    futures = [
        batch.pool.submit(
            contextvars.copy_context().run, run_item, call, batch.policy, batch.results, index
        )
        for index, call in batch.calls
    ]
    batch.runs = sorted([*batch.found, *(f.result() for f in futures)], key=lambda r: r.index)
    _post_table(batch)
    failed = [r for r in batch.runs if r.state == FAILED]
    if failed:
        for run in failed:
            narrate.failed(
                batch.calls[0][1].root_run_id, run.path, run.kind, run.error, run.attempts
            )
        return Failed(message=failed_items(failed, len(batch.runs)))
    if any(r.state == SUSPENDED for r in batch.runs):
        return Paused(message=f"{batch.name}: an item waits")
    batch.results.write(batch.name, batch.basis, [r.output for r in batch.runs])
    return None


def _post_table(batch: Batch) -> None:
    """The batch's items as a table artifact on its task run: status and the report read it."""
    context = TaskRunContext.get()
    if context is None:
        return
    artifact = ArtifactCreate(
        type="table",
        data=json.dumps([r.row() for r in batch.runs]),
        description=f"items of {batch.name}",
        task_run_id=context.task_run.id,
        flow_run_id=context.task_run.flow_run_id,
    )
    try:
        with client() as prefect:
            prefect.create_artifact(artifact)
    except Exception:  # a failure to post only costs the table
        logger.warning("could not post the items of %s", batch.name, exc_info=True)


def _batch_name(parameters: dict[str, Any]) -> str:
    return parameters["batch"].name


narrate.quiet_engine(BATCH_TASK)

BATCH_OPTIONS: dict[str, Any] = {
    "name": BATCH_TASK,
    "task_run_name": _batch_name,
    "persist_result": False,  # each item records its own result, the batch its outputs
    "retries": 0,  # items retry, not batches: one layer
    "on_completion": [keep_run],
    "on_failure": [keep_run],
}

run_batch: Task[..., Any] = task(run_items, **BATCH_OPTIONS)
