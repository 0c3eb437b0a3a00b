"""One unit of a scheduler's work: a step task, a group subflow, a planner's plan, or a wait
(engine/waiting.py), run in a pool thread or the loop's own; each ends as an ``Outcome``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from prefect.exceptions import Pause
from prefect.settings import PREFECT_API_URL

from autoagent import expressions
from autoagent.engine.outcome import (
    COMPLETED,
    FAILED,
    SKIPPED,
    SKIPPED_TASK_STATE,
    SUSPENDED,
    Outcome,
    failed_outcome,
    state_value,
)
from autoagent.engine.planning import PLANNER, run_plan
from autoagent.engine.policy import RetryPolicy
from autoagent.engine.results import MISSING
from autoagent.engine.scope import NO_ITEM, Scope
from autoagent.engine.step import run_step, step_task
from autoagent.engine.waiting import WaitingUnits
from autoagent.errors import ExpressionError
from autoagent.spec import Step
from autoagent.spec.lineage import upstream


class StepUnits(WaitingUnits):
    """Mixed into the Scheduler, which holds what these read: the scope, the outputs so far,
    the steps of the scope (``siblings``) and the subflow runner (``run_group``)."""

    siblings: dict[str, Step]
    run_group: Callable[[Step, Scope], Any]
    _tasks: dict[str, Any]
    _lock: threading.Lock

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
                    outcome = run_plan(self.scope, self.group_unit, step, path, item, outcome)
        except Pause as exc:  # a group or child mission suspended
            return Outcome(path, SUSPENDED, prefect_state=exc.state)
        except Exception as exc:  # an engine failure fails this step, not the whole loop
            outcome = Outcome(path, FAILED, error=f"{type(exc).__name__}: {exc}", kind="error")
        outcome.started = started
        outcome.duration = time.monotonic() - started
        if outcome.path != self.scope.prefix + step.id and outcome.state != SUSPENDED:
            self.journal.record(outcome)  # a for_each item
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
        policy = RetryPolicy.of(step, self.scope.defaults)
        task = self._task_for(step, policy) if not skip else run_step
        state = task(
            mission=self.scope.mission,
            root_run_id=self.scope.root_run_id,
            path=path,
            agent=step.agent or "",
            input=resolved,
            timeout=policy.timeout,
            skip=skip,
            input_error=error,
            concurrency=step.concurrency,
            runs_on=step.runs_on,
            params=self.scope.params if step.agent == PLANNER else None,
            return_state=True,
        )
        if state.is_completed():
            if state.name == SKIPPED_TASK_STATE:
                return Outcome(path, SKIPPED, prefect_state=state)
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
        # a group whose steps have compensations runs again (each step a cache hit), so that a
        # resumed mission that fails later still knows how to undo them
        if self.scope.resuming and not _compensated_inside(step):
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
    def _task_for(self, step: Step, policy: RetryPolicy) -> Any:
        """The step task with this step's policy, built once per step (not once per item)."""
        with self._lock:
            if step.id not in self._tasks:
                # the engine need not look the result up: _task_unit reads it on a resume
                self._tasks[step.id] = step_task(
                    policy,
                    str(PREFECT_API_URL.value()),
                    lookup=False,
                    asset=step.asset,
                    upstream=tuple(upstream(step, self.siblings)) if step.asset else (),
                )
            return self._tasks[step.id]


def _compensated_inside(group: Step) -> bool:
    """Whether any step inside a group, a child mission or their descendants has a compensation."""
    inner = group.child.steps if group.child is not None else group.steps or []
    return any(s.compensate is not None or _compensated_inside(s) for s in inner)


def bare(value: Any) -> Any:
    """An expression written without braces (``when: x > 1``) as a template."""
    if isinstance(value, str) and not expressions.is_template(value):
        return "{{ " + value + " }}"
    return value
