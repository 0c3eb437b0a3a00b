"""Decides what runs when: steps start as soon as their needs are done.

One scheduler runs one scope (the mission's top level or one group). Its loop lives in the flow
body and is deterministic given the persisted results: ``when`` and ``for_each`` are pure
expressions over earlier outputs, and every side effect happens in a step task or a group subflow
run as a unit: on a thread pool, or in the loop's own thread when it is the only one that can
run (a chain's next step). Units finish in any order; cache keys are by step path, not by call
order, so a resumed run finds its results whatever the order.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from prefect.exceptions import Pause
from prefect.states import State
from prefect.utilities.annotations import quote

from autoagent import expressions
from autoagent.engine import compensation
from autoagent.engine.batches import BatchUnits, FanOut
from autoagent.engine.graph import Link, link
from autoagent.engine.journal import Journal
from autoagent.engine.outcome import (
    BLOCKED,
    COMPLETED,
    ERRORS_NAMED,
    FAILED,
    SKIPPED,
    SUSPENDED,
    NotRun,
    Outcome,
    failed_items,
)
from autoagent.engine.results import MISSING, Results
from autoagent.engine.scope import NO_ITEM, Scope
from autoagent.engine.step import fan_in
from autoagent.engine.units import bare
from autoagent.errors import ExpressionError
from autoagent.settings import get_settings
from autoagent.spec import Step


class Scheduler(BatchUnits):
    """Runs the steps of one scope, writing each outcome in the run's ``journal``; ``run_group``
    runs a group or child mission as a subflow."""

    def __init__(
        self,
        scope: Scope,
        journal: Journal,
        run_group: Callable[[Step, Scope, list[Link]], State[Any]],
    ):
        self.scope = scope
        self.journal = journal
        self.run_group = run_group
        self.outcomes: dict[str, Outcome] = {}
        self.outputs: dict[str, Any] = dict(scope.outputs)
        self._tasks: dict[str, Any] = {}
        self.results = Results(scope.root_run_id)
        self._lock = threading.Lock()
        self.suspension: State | None = None  # set when a deployed run must end this attempt
        self.siblings: dict[str, Step] = {}
        self._units: list[tuple[Future[Outcome], Callable[[], Outcome]]] = []
        self._done: queue.SimpleQueue[Future[Outcome]] = queue.SimpleQueue()

    # -- the loop --------------------------------------------------------------------------
    def run(self, steps: list[Step]) -> dict[str, Outcome]:
        self.siblings = {s.id: s for s in steps}
        waiting = {s.id: s for s in steps}
        running: dict[Future[Outcome], tuple[Step, int | None]] = {}
        fanouts: dict[str, FanOut] = {}
        workers = get_settings().max_parallel_steps
        with (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="step") as pool,
            _closing(fanouts),
        ):
            while waiting or running:
                # a step can finish without running (blocked, empty fan-out, done before):
                # start until nothing more is ready; once suspending, start nothing new
                busy = len(running)
                ready = [s for s in waiting.values() if self._decided(s)]
                while ready and self.suspension is None:
                    for step in ready:
                        del waiting[step.id]
                        self._start(step, running, fanouts)
                    ready = [s for s in waiting.values() if self._decided(s)]
                self._launch(pool, alone=busy == 0)
                if not running:
                    break
                for future in self._finished():
                    step, index = running.pop(future)
                    outcome = future.result()
                    if outcome.state == SUSPENDED:
                        self.suspension = self.suspension or outcome.prefect_state
                    elif index is None:
                        self._finish(step, outcome)
                    else:
                        fan = fanouts[step.id]
                        fan.place(index, outcome)
                        if fan.pending and self.suspension is None:
                            self._submit_batch(step, fan, running)
                        if fan.complete:
                            self._finish_fan_out(step, fan)
        if self.suspension is not None:  # the engine ends this attempt without a final state
            raise Pause(state=self.suspension)
        return self.outcomes

    def _launch(self, pool: ThreadPoolExecutor, alone: bool) -> None:
        """Start the units made ready. The only unit when nothing else runs (a chain's next
        step) runs in this thread: nothing could finish meanwhile, and a thread hop per step
        costs a chain more than the step's own bookkeeping."""
        units, self._units = self._units, []
        if alone and len(units) == 1:
            _settle(*units[0])
            return
        for future, call in units:
            pool.submit(_settle, future, call)

    def _finished(self) -> list[Future[Outcome]]:
        """Block until a unit finishes; every unit finished by then."""
        done = [self._done.get()]
        with contextlib.suppress(queue.Empty):
            while True:
                done.append(self._done.get_nowait())
        return done

    def _decided(self, step: Step) -> bool:
        return all(n in self.outcomes for n in step.needs)

    def _start(self, step: Step, running: dict, fanouts: dict) -> None:
        path = self.scope.prefix + step.id
        failed = [n for n in step.needs if self.outcomes[n].state in (FAILED, BLOCKED)]
        if failed:  # its task run says so (the run graph shows it with its reason)
            blocked = NotRun.blocked(failed)
            running[self._submit(step, None, NO_ITEM, not_run=blocked)] = (step, None)
            return
        context = self._context()
        try:
            run_it = _condition(step.when, context)
        except ExpressionError as exc:
            running[self._submit(step, None, NO_ITEM, error=f"when: {exc}")] = (step, None)
            return
        if not run_it:
            skipped = NotRun.skipped(step.when)
            running[self._submit(step, None, NO_ITEM, not_run=skipped)] = (step, None)
            return
        if step.for_each is None:
            running[self._submit(step, None, NO_ITEM)] = (step, None)
            return
        try:
            items = expressions.render(bare(step.for_each), context)
            if not isinstance(items, list):
                raise ExpressionError(f"for_each must give a list, got {type(items).__name__}")
            widest = get_settings().max_for_each
            if len(items) > widest:  # before any item starts: a million tasks drown the server
                raise ExpressionError(
                    f"{len(items)} items: at most {widest} (limit AUTOAGENT_MAX_FOR_EACH)"
                )
        except ExpressionError as exc:
            running[self._submit(step, None, NO_ITEM, error=f"for_each: {exc}")] = (
                step,
                None,
            )
            return
        if not items:
            made = self._fan_in(step, path, [], None)
            self._finish(step, Outcome(path, COMPLETED, output=[], duration=0.0, link=made))
            return
        if self.scope.resuming:
            found = self.results.read(path + ".all", items)
            if found is not MISSING:
                self._finish(step, Outcome(path, COMPLETED, output=found, cached=True), items)
                return
        fan = fanouts[step.id] = FanOut.of(step, path, items)
        if fan.batched:
            if self.scope.resuming:
                self._read_back(step, fan)
                if fan.complete:
                    self._finish_fan_out(step, fan)
                    return
            for _ in range(min(fan.window, len(fan.pending))):
                self._submit_batch(step, fan, running)
            return
        for i, item in enumerate(items):
            running[self._submit(step, i, item)] = (step, i)

    def _finish(self, step: Step, outcome: Outcome, items: list[Any] | None = None) -> None:
        self.outcomes[step.id] = outcome
        if outcome.state == COMPLETED:
            self.outputs[step.id] = outcome.output
            if step.steps and step.for_each is None and isinstance(outcome.output, dict):
                self.outputs.update(_descendant_outputs(step, outcome.output))
            if step.compensate is not None:
                undos = compensation.resolve(
                    step,
                    outcome.path,
                    outcome.output,
                    items,
                    self._context,
                    mission=self.scope.mission,
                    root_run_id=self.scope.root_run_id,
                    no_item=NO_ITEM,
                )
                self.journal.remember(undos)
        elif outcome.state == SKIPPED:
            self.outputs[step.id] = None
        self.journal.record(outcome)

    def _finish_fan_out(self, step: Step, fan: FanOut) -> None:
        fan.close()
        self._finish(step, self._join(step, fan), fan.items)

    def _join(self, step: Step, fan: FanOut) -> Outcome:
        results = [r for r in fan.results if r is not None]
        path = self.scope.prefix + step.id
        durations = [r.duration for r in results if r.duration is not None]
        duration = max(durations) if durations else time.monotonic() - fan.started
        bad = [r for r in results if r.state != COMPLETED]
        errors = "; ".join(f"{r.path}: {r.error}" for r in bad[:ERRORS_NAMED]) if bad else None
        if len(bad) > ERRORS_NAMED:
            errors = failed_items(bad, len(results))
        made = self._fan_in(step, path, [r.link for r in results], errors)
        if errors is not None:
            return Outcome(
                path, FAILED, error=errors, started=fan.started, duration=duration, link=made
            )
        output = [r.output for r in results]
        self.results.write(path + ".all", fan.items, output)
        return Outcome(
            path,
            COMPLETED,
            output=output,
            started=fan.started,
            duration=duration,
            cached=all(r.cached for r in results),
            link=made,
        )

    def _fan_in(self, step: Step, path: str, items: list[Any], failed: str | None) -> Any:
        """The fan-out parent's own node in the run graph: after its items, before what needs
        it (a task run that does nothing else); its link."""
        found = list({id(m): m for m in items if m is not None}.values()) or self._needs(step)
        state = fan_in(path=quote(path), failed=quote(failed), wait_for=found, return_state=True)
        return link(state)

    # -- one unit of work, in a pool thread or the loop's ---------------------------------------
    def _submit(
        self,
        step: Step,
        index: int | None,
        item: Any,
        *,
        not_run: NotRun | None = None,
        error: str | None = None,
    ) -> Future[Outcome]:
        """A unit to start at the next ``_launch``; its future reports to ``_finished``."""
        path = self.scope.prefix + step.id + (f"[{index}]" if index is not None else "")
        return self._queue(self._unit, step, path, item, not_run, error)

    def _submit_batch(self, step: Step, fan: FanOut, running: dict) -> None:
        """The fan-out's next batch as a unit, running under its first item's index."""
        start, stop = fan.pending.popleft()
        running[self._queue(self._batch_unit, step, fan, start, stop)] = (step, start)

    def _queue(self, unit: Callable[..., Outcome], *args: Any) -> Future[Outcome]:
        context = contextvars.copy_context()
        future: Future[Outcome] = Future()
        future.add_done_callback(self._done.put)
        self._units.append((future, functools.partial(context.run, unit, *args)))
        return future


def _settle(future: Future[Outcome], call: Callable[[], Outcome]) -> None:
    """Run a unit into its future (``_unit`` turns every Exception into an outcome)."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(call())
    except BaseException as exc:  # KeyboardInterrupt, SystemExit: the loop re-raises it
        future.set_exception(exc)


@contextlib.contextmanager
def _closing(fanouts: dict[str, FanOut]) -> Any:
    """Fan-outs left under way (a suspension, an interrupt) release their item pools."""
    try:
        yield
    finally:
        for fan in fanouts.values():
            fan.close()
        for fan in fanouts.values():  # their last progress posted before the scope ends
            if fan.progress is not None:
                fan.progress.join()


def _condition(when: str | bool | None, context: dict[str, Any]) -> bool:
    if when is None or isinstance(when, bool):
        return when is not False
    return expressions.evaluate_condition(bare(when), context)


def _descendant_outputs(group: Step, output: dict[str, Any]) -> dict[str, Any]:
    """Outputs of a group's descendants, so a step that needs the group can name them directly."""
    found: dict[str, Any] = {}
    for child in group.steps or []:
        if child.id in output:
            found[child.id] = output[child.id]
            if child.steps and child.for_each is None and isinstance(output[child.id], dict):
                found.update(_descendant_outputs(child, output[child.id]))
    return found
