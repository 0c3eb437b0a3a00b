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
from dataclasses import dataclass
from typing import Any

from prefect.exceptions import Pause
from prefect.settings import PREFECT_API_URL
from prefect.states import State

from autoagent import expressions
from autoagent.assets import upstream
from autoagent.errors import ExpressionError
from autoagent.settings import get_settings
from autoagent.spec import Step
from flows import sagas
from flows.outcomes import (
    BLOCKED,
    COMPLETED,
    FAILED,
    NO_ITEM,
    SKIPPED_STATE,
    SUSPENDED,
    Outcome,
    Scope,
    failed_outcome,
    record,
    state_value,
)
from flows.planning import PLANNER, run_plan
from flows.results import MISSING, Results
from flows.waiting import WaitingUnits
from tasks.step import SKIPPED, configured, materializing, run_step


@dataclass
class _FanOut:
    step: Step
    results: list[Outcome | None]
    started: float
    items: list[Any]


class Scheduler(WaitingUnits):
    """Runs the steps of one scope; ``run_group`` runs a group or child mission as a subflow."""

    def __init__(self, scope: Scope, run_group: Callable[[Step, Scope], Any]):
        self.scope = scope
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
        fanouts: dict[str, _FanOut] = {}
        workers = get_settings().max_parallel_steps
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="step") as pool:
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
                        fan.results[index] = outcome
                        if all(r is not None for r in fan.results):
                            self._finish(step, self._join(step, fan), fan.items)
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
        if failed:
            self._finish(step, Outcome(path, BLOCKED, error=f"not run: {', '.join(failed)} failed"))
            return
        context = self._context()
        try:
            run_it = _condition(step.when, context)
        except ExpressionError as exc:
            running[self._submit(step, None, NO_ITEM, error=f"when: {exc}")] = (step, None)
            return
        if not run_it:
            running[self._submit(step, None, NO_ITEM, skip=True)] = (step, None)
            return
        if step.for_each is None:
            running[self._submit(step, None, NO_ITEM)] = (step, None)
            return
        try:
            items = expressions.render(_bare(step.for_each), context)
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
            self._finish(step, Outcome(path, COMPLETED, output=[], duration=0.0))
            return
        if self.scope.resuming:
            found = self.results.read(path + ".all", items)
            if found is not MISSING:
                self._finish(step, Outcome(path, COMPLETED, output=found, cached=True), items)
                return
        fanouts[step.id] = _FanOut(step, [None] * len(items), time.monotonic(), items)
        for i, item in enumerate(items):
            running[self._submit(step, i, item)] = (step, i)

    def _finish(self, step: Step, outcome: Outcome, items: list[Any] | None = None) -> None:
        self.outcomes[step.id] = outcome
        if outcome.state == COMPLETED:
            self.outputs[step.id] = outcome.output
            if step.steps and step.for_each is None and isinstance(outcome.output, dict):
                self.outputs.update(_descendant_outputs(step, outcome.output))
            if step.compensate is not None:
                sagas.remember(self.scope, step, outcome.output, items, self._context)
        elif outcome.state == SKIPPED_STATE:
            self.outputs[step.id] = None
        record(self.scope, outcome)

    def _join(self, step: Step, fan: _FanOut) -> Outcome:
        results = [r for r in fan.results if r is not None]
        path = self.scope.prefix + step.id
        duration = time.monotonic() - fan.started
        bad = [r for r in results if r.state != COMPLETED]
        if bad:
            errors = "; ".join(f"{r.path}: {r.error}" for r in bad[:3])
            return Outcome(path, FAILED, error=errors, started=fan.started, duration=duration)
        output = [r.output for r in results]
        self.results.write(path + ".all", fan.items, output)
        return Outcome(
            path,
            COMPLETED,
            output=output,
            started=fan.started,
            duration=duration,
            cached=all(r.cached for r in results),
        )

    # -- one unit of work, in a pool thread or the loop's ---------------------------------------
    def _submit(
        self,
        step: Step,
        index: int | None,
        item: Any,
        *,
        skip: bool = False,
        error: str | None = None,
    ) -> Future[Outcome]:
        """A unit to start at the next ``_launch``; its future reports to ``_finished``."""
        path = self.scope.prefix + step.id + (f"[{index}]" if index is not None else "")
        context = contextvars.copy_context()
        future: Future[Outcome] = Future()
        future.add_done_callback(self._done.put)
        call = functools.partial(context.run, self._unit, step, path, item, skip, error)
        self._units.append((future, call))
        return future

    def _unit(self, step: Step, path: str, item: Any, skip: bool, error: str | None) -> Outcome:
        started = time.monotonic()
        try:
            if step.wait is not None and not skip and error is None:
                outcome = self._wait_unit(step, path, item)
            elif (step.approval or step.event) is not None and not skip and error is None:
                outcome = self._ask_unit(step, path, item)
            elif step.agent is None and not skip and error is None:
                outcome = self.group_unit(step, path, item)
            else:
                outcome = self._task_unit(step, path, item, skip, error)
                if step.agent == PLANNER and outcome.state == COMPLETED and not skip:
                    outcome = run_plan(self, step, path, item, outcome)
        except Pause as exc:  # a group or child mission suspended
            return Outcome(path, SUSPENDED, prefect_state=exc.state)
        except Exception as exc:  # an engine failure fails this step, not the whole loop
            outcome = Outcome(path, FAILED, error=f"{type(exc).__name__}: {exc}", kind="error")
        outcome.started = started
        outcome.duration = time.monotonic() - started
        if outcome.path != self.scope.prefix + step.id and outcome.state != SUSPENDED:
            record(self.scope, outcome)  # a for_each item
        return outcome

    def _task_unit(
        self, step: Step, path: str, item: Any, skip: bool, error: str | None
    ) -> Outcome:
        resolved: Any = None
        if not skip and error is None:
            try:
                resolved = expressions.render(step.input or {}, self._context(item))
            except ExpressionError as exc:
                error = f"input: {exc}"
        if self.scope.resuming and not skip and error is None:
            found = self.results.read(path, resolved)
            if found is not MISSING:
                return Outcome(path, COMPLETED, output=found, cached=True)
        policy = self._policy(step)
        task = self._task_for(step, policy) if not skip else run_step
        state = task(
            mission=self.scope.mission,
            root_run_id=self.scope.root_run_id,
            path=path,
            agent=step.agent or "",
            input=resolved,
            timeout=policy[3],
            skip=skip,
            input_error=error,
            concurrency=step.concurrency,
            runs_on=step.runs_on,
            params=self.scope.params if step.agent == PLANNER else None,
            return_state=True,
        )
        if state.is_completed():
            if state.name == SKIPPED:
                return Outcome(path, SKIPPED_STATE, prefect_state=state)
            return Outcome(
                path,
                COMPLETED,
                output=state_value(state),
                cached=state.name == "Cached",
                prefect_state=state,
            )
        return failed_outcome(path, state)

    def group_unit(self, step: Step, path: str, item: Any) -> Outcome:
        """Run a group, a child mission or a plan as a subflow at ``path``."""
        inner_item = item if item is not NO_ITEM else self.scope.item
        scope = Scope(
            mission=self.scope.mission,
            root_run_id=self.scope.root_run_id,
            params=self.scope.params,
            defaults=self.scope.defaults,
            prefix=path + "/",
            outputs=self.outputs,
            item=inner_item,
            resuming=self.scope.resuming,
            auto_approve=self.scope.auto_approve,
            suspends=self.scope.suspends,
        )
        if step.child is not None:
            try:
                params = expressions.render(step.params or {}, self._context(item))
            except ExpressionError as exc:
                return Outcome(path, FAILED, error=f"params: {exc}", kind="expression")
            scope.mission = step.child.name
            scope.params = {**step.child.params, **params}
            scope.defaults = step.child.defaults
            scope.outputs = {}
            scope.item = NO_ITEM
        basis = {"params": scope.params, "item": None if scope.item is NO_ITEM else scope.item}
        if self.scope.resuming:
            found = self.results.read(path + ".all", basis)
            if found is not MISSING:
                return Outcome(path, COMPLETED, output=found, cached=True)
        try:
            output = self.run_group(step, scope)
        except Exception as exc:
            return Outcome(path, FAILED, error=str(exc), kind=getattr(exc, "kind", "error"))
        self.results.write(path + ".all", basis, output)
        return Outcome(path, COMPLETED, output=output)

    # -- helpers -------------------------------------------------------------------------------
    def _context(self, item: Any = NO_ITEM) -> dict[str, Any]:
        context: dict[str, Any] = {
            "params": self.scope.params,
            "steps": {k: {"output": v} for k, v in self.outputs.items()},
        }
        item = item if item is not NO_ITEM else self.scope.item
        if item is not NO_ITEM:
            context["item"] = item
        return context

    def _task_for(self, step: Step, policy: tuple) -> Any:
        """The step task with this step's policy, built once per step (not once per item)."""
        with self._lock:
            if step.id not in self._tasks:
                # the engine need not look the result up: _task_unit reads it on a resume
                made = configured(*policy, str(PREFECT_API_URL.value()), lookup=False)
                if step.asset is not None:
                    made = materializing(made, step.asset, upstream(step, self.siblings))
                self._tasks[step.id] = made
            return self._tasks[step.id]

    def _policy(self, step: Step) -> tuple:
        d = self.scope.defaults
        retries = step.retries if step.retries is not None else d.retries
        backoff = step.retry_backoff or d.retry_backoff
        retry_on = step.retry_on if step.retry_on is not None else d.retry_on
        timeout = step.timeout if step.timeout is not None else d.timeout
        return retries, backoff, tuple(retry_on) if retry_on is not None else None, timeout


def _settle(future: Future[Outcome], call: Callable[[], Outcome]) -> None:
    """Run a unit into its future (``_unit`` turns every Exception into an outcome)."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(call())
    except BaseException as exc:  # KeyboardInterrupt, SystemExit: the loop re-raises it
        future.set_exception(exc)


def _condition(when: str | bool | None, context: dict[str, Any]) -> bool:
    if when is None or isinstance(when, bool):
        return when is not False
    return expressions.evaluate_condition(_bare(when), context)


def _bare(value: Any) -> Any:
    if isinstance(value, str) and not expressions.is_template(value):
        return "{{ " + value + " }}"
    return value


def _descendant_outputs(group: Step, output: dict[str, Any]) -> dict[str, Any]:
    """Outputs of a group's descendants, so a step that needs the group can name them directly."""
    found: dict[str, Any] = {}
    for child in group.steps or []:
        if child.id in output:
            found[child.id] = output[child.id]
            if child.steps and child.for_each is None and isinstance(output[child.id], dict):
                found.update(_descendant_outputs(child, output[child.id]))
    return found


def failures(outcomes: dict[str, Outcome]) -> list[Outcome]:
    return [o for o in outcomes.values() if o.state in (FAILED, BLOCKED)]
