"""Large fan-outs: a ``for_each`` over more items than its batch size runs them in batch task runs.

A task run costs Prefect ~4-5 ms of client CPU and ~15 ms of server CPU (design.md section 2), so
ten thousand items as ten thousand task runs drown one server. Past the batch size (the step's
``for_each_batch``, else the setting), a fan-out runs batch task runs named ``<step>[a:b]``, a
few at a time, and each runs its items on the fan-out's item pool, concurrently up to
``max_parallel_steps``. Each item keeps what a step task gives it:

* its result is recorded under its own key (its path ``<step>[i]`` and its input's hash: the
  key its own task run would use) before it counts as done, so a resume or a retry of the
  mission never runs a finished item again;
* the step's retry policy tries it again: retries happen at the item (the batch task run has
  none), with the step's delays, jitter and ``retry_on``; its ``timeout``, ``concurrency`` and
  ``runs_on`` apply per item, as its agent runs them.

A batch whose items all completed records their outputs once more under the batch's own key, so
a resume skips it with one read. Each batch task run leaves a table artifact with every item's
state, attempts, seconds and error (what ``autoagent status`` and the report show per item) and
the fan-out a progress artifact that moves as batches end.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from prefect import Task
from prefect.assets import materialize
from prefect.client.schemas.actions import ArtifactCreate, ArtifactUpdate
from prefect.context import FlowRunContext
from prefect.states import State
from prefect.utilities.annotations import quote

from autoagent import expressions
from autoagent.engine.batch_task import (
    BATCH_OPTIONS,
    Batch,
    ItemRun,
    run_batch,
    run_items,
)
from autoagent.engine.graph import link
from autoagent.engine.outcome import COMPLETED, FAILED, SUSPENDED, Outcome, failed_items
from autoagent.engine.policy import RetryPolicy
from autoagent.engine.results import MISSING
from autoagent.engine.step import StepCall
from autoagent.engine.units import StepUnits
from autoagent.errors import ExpressionError
from autoagent.server.client import client, read_run
from autoagent.settings import get_settings
from autoagent.spec import Step
from autoagent.spec.lineage import upstream

logger = logging.getLogger("autoagent.batches")

PROGRESS_EVERY_SECONDS = 1.0
"""How often a fan-out's progress artifact is updated at most (its last update always goes)."""


def batch_size(step: Step, count: int) -> int:
    """Items per batch task run of a fan-out of ``count`` items; 1: one task run per item (a
    fan-out no wider than its batch size, a step that is not an agent's, a planner)."""
    if step.agent is None or step.agent == "planner" or step.for_each is None:
        return 1
    size = step.for_each_batch or get_settings().for_each_batch
    return size if count > size and size > 1 else 1


class Progress:
    """A fan-out's progress artifact on the run that fans out: items done of all, posted by a
    thread of its own as batches end (at most once a second, and once at the end), never on
    the items' way."""

    def __init__(self, path: str, total: int):
        self.path = path
        self.total = total
        self.done = self.failed = self.retried = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._ending = threading.Event()  # set once the fan-out ended: a last update, at once
        context = FlowRunContext.get()
        self._flow_run_id = context.flow_run.id if context and context.flow_run else None
        self._poster = threading.Thread(
            target=contextvars.copy_context().run, args=(self._post,), name="progress"
        )
        self._poster.start()

    def _said(self) -> str:
        said = f"{self.path}: {self.done:,} of {self.total:,} items done"
        if self.failed:
            said += f", {self.failed:,} failed"
        if self.retried:
            said += f", {self.retried:,} retried"
        return said

    def advance(self, runs: list[ItemRun]) -> None:
        with self._lock:
            self.done += sum(r.state == COMPLETED for r in runs)
            self.failed += sum(r.state == FAILED for r in runs)
            self.retried += sum(r.attempts > 1 for r in runs)
        self._wake.set()

    def close(self) -> None:
        """The fan-out ended (or the run stops): one last update, at once, then the poster
        ends."""
        self._ending.set()
        self._wake.set()

    def join(self, timeout: float = 10.0) -> None:
        self._poster.join(timeout)

    def _post(self) -> None:
        if self._flow_run_id is None:
            return
        try:
            with client() as prefect:
                made = prefect.create_artifact(
                    ArtifactCreate(
                        type="progress",
                        data=0.0,
                        description=self._said(),
                        flow_run_id=self._flow_run_id,
                    )
                )
                while True:
                    self._wake.wait()
                    self._wake.clear()
                    with self._lock:
                        update = ArtifactUpdate(
                            data=100.0 * self.done / self.total, description=self._said()
                        )
                        last = self._ending.is_set()
                    prefect.update_artifact(made.id, update)
                    if last:
                        return
                    self._ending.wait(PROGRESS_EVERY_SECONDS)
        except Exception:  # a failure to post only costs the progress artifact
            logger.warning("could not post the progress of %s", self.path, exc_info=True)


@dataclass
class FanOut:
    """One fan-out under way: each item's outcome as it comes, and its batches still to start."""

    step: Step
    results: list[Outcome | None]
    started: float
    items: list[Any]
    pending: deque[tuple[int, int]] = field(default_factory=deque)
    pool: ThreadPoolExecutor | None = None
    progress: Progress | None = None
    window: int = 0
    """Batches under way at once: enough to keep the item pool busy, few enough that they end
    (and record) in order."""

    @classmethod
    def of(cls, step: Step, path: str, items: list[Any]) -> FanOut:
        fan = cls(step, [None] * len(items), time.monotonic(), items)
        size = batch_size(step, len(items))
        if size > 1:
            fan.pending = deque((a, min(a + size, len(items))) for a in range(0, len(items), size))
            width = min(get_settings().max_parallel_steps, len(items))
            fan.pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="item")
            fan.window = math.ceil(width / size) + 1
            fan.progress = Progress(path, len(items))
        return fan

    @property
    def batched(self) -> bool:
        return self.pool is not None

    def place(self, index: int, outcome: Outcome) -> None:
        if outcome.parts is None:
            self.results[index] = outcome
        else:
            self.results[index : index + len(outcome.parts)] = outcome.parts

    @property
    def complete(self) -> bool:
        return all(r is not None for r in self.results)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        if self.progress is not None:
            self.progress.close()


class BatchUnits(StepUnits):
    """The batch unit, mixed into the Scheduler like the other units."""

    def _batch_unit(self, step: Step, fan: FanOut, start: int, stop: int) -> Outcome:
        """Run items ``start`` to ``stop`` of a fan-out as one batch task run; an engine failure
        fails each of its items (never the scheduler's loop)."""
        path = self.scope.prefix + step.id
        try:
            return self._run_batch_unit(step, fan, start, stop)
        except Exception as exc:
            runs = _all_failed(path, start, stop, f"{type(exc).__name__}: {exc}")
            return self._batch_outcome(f"{path}[{start}:{stop}]", fan, runs, None, None)

    def _read_back(self, step: Step, fan: FanOut) -> None:
        """On a resume, every batch that finished comes back from its one record, here, before
        any batch is started: only the others remain to run."""
        path = self.scope.prefix + step.id
        left: deque[tuple[int, int]] = deque()
        for start, stop in fan.pending:
            name = f"{path}[{start}:{stop}]"
            found = self.results.read(name, fan.items[start:stop])
            if not (isinstance(found, list) and len(found) == stop - start):
                left.append((start, stop))
                continue
            runs = [
                ItemRun(i, f"{path}[{i}]", COMPLETED, output=o, cached=True)
                for i, o in zip(range(start, stop), found, strict=True)
            ]
            fan.place(start, self._batch_outcome(name, fan, runs, None, None))
        fan.pending = left

    def _run_batch_unit(self, step: Step, fan: FanOut, start: int, stop: int) -> Outcome:
        path = self.scope.prefix + step.id
        name = f"{path}[{start}:{stop}]"
        basis = fan.items[start:stop]
        policy = RetryPolicy.of(step, self.scope.defaults)
        calls: list[tuple[int, StepCall]] = []
        found_runs: list[ItemRun] = []
        for i, item in zip(range(start, stop), basis, strict=True):
            item_path = f"{path}[{i}]"
            resolved: Any = None
            error = None
            try:
                resolved = expressions.render(step.input or {}, self._context(item))
            except ExpressionError as exc:
                error = f"input: {exc}"
            if self.scope.resuming and error is None:
                output = self.results.read(item_path, resolved)
                if output is not MISSING:
                    found_runs.append(ItemRun(i, item_path, COMPLETED, output=output, cached=True))
                    continue
            calls.append((i, self._step_call(step, item_path, resolved, policy, input_error=error)))
        if not calls:
            self.results.write(name, basis, [r.output for r in found_runs])
            return self._batch_outcome(name, fan, found_runs, None, None)
        assert fan.pool is not None
        batch = Batch(name, calls, policy, fan.pool, self.results, basis, found=found_runs)
        state = self._batch_task(step)(
            batch=quote(batch), wait_for=self._needs(step), return_state=True
        )
        if not batch.runs:  # the batch never ran its items: each fails with its reason
            batch.runs = _all_failed(path, start, stop, state.message or state.name)
        return self._batch_outcome(name, fan, batch.runs, state, link(state))

    def _batch_outcome(
        self, name: str, fan: FanOut, runs: list[ItemRun], state: State | None, made: Any
    ) -> Outcome:
        parts = [
            Outcome(
                r.path,
                r.state,
                output=r.output,
                error=r.error,
                kind=r.kind,
                duration=r.seconds,
                cached=r.cached,
                link=made,
                batch=name,
            )
            for r in runs
        ]
        for part in parts:
            if part.state != SUSPENDED:
                self.journal.record(part)
        if fan.progress is not None:
            fan.progress.advance(runs)
        if any(p.state == SUSPENDED for p in parts):
            return Outcome(name, SUSPENDED, prefect_state=read_run(self.scope.root_run_id).state)
        failed = [r for r in runs if r.state == FAILED]
        outcome = Outcome(
            name,
            FAILED if failed else COMPLETED,
            error=failed_items(failed, len(runs)) if failed else None,
            duration=max((r.seconds for r in runs), default=0.0),
            cached=all(r.cached for r in runs),
            prefect_state=state,
            link=made,
            parts=parts,
        )
        self.journal.record(outcome)
        return outcome

    def _batch_task(self, step: Step) -> Task[..., Any]:
        """The batch task; a Prefect materialization of the step's asset when it has one."""
        if step.asset is None:
            return run_batch
        with self._lock:
            key = f"{step.id}#batch"
            if key not in self._tasks:
                deps = list(upstream(step, self.siblings)) or None
                self._tasks[key] = materialize(step.asset, asset_deps=deps, **BATCH_OPTIONS)(
                    run_items
                )
            return self._tasks[key]


def _all_failed(path: str, start: int, stop: int, why: str) -> list[ItemRun]:
    """Items ``start`` to ``stop`` of the fan-out at ``path``, each failed for ``why``."""
    return [ItemRun(i, f"{path}[{i}]", FAILED, error=why, kind="error") for i in range(start, stop)]
