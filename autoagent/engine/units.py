"""One unit of a scheduler's work: a step task, a group subflow, a planner's plan, or a wait
(engine/waiting.py), run in a pool thread or the loop's own; each ends as an ``Outcome``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from prefect.exceptions import Pause
from prefect.settings import PREFECT_API_URL
from prefect.states import State
from prefect.utilities.annotations import quote

from autoagent import expressions
from autoagent.engine import narrate
from autoagent.engine.conversation import Conversation
from autoagent.engine.graph import Link, link, link_subflow
from autoagent.engine.outcome import (
    BLOCKED,
    COMPLETED,
    FAILED,
    SKIPPED_TASK_STATE,
    SUSPENDED,
    NotRun,
    Outcome,
    failed_outcome,
    state_value,
)
from autoagent.engine.planning import PLANNER, run_plan
from autoagent.engine.policy import RetryPolicy
from autoagent.engine.results import MISSING
from autoagent.engine.scope import NO_ITEM, Scope
from autoagent.engine.step import StepCall, run_step, step_task
from autoagent.engine.waiting import WaitingUnits
from autoagent.errors import ExpressionError, StepError
from autoagent.server.client import read_run
from autoagent.server.status_nodes import run_seconds
from autoagent.spec import MissionSpec, Step
from autoagent.spec.lineage import upstream


class StepUnits(WaitingUnits):
    """Mixed into the Scheduler, which holds what these read: the scope, the outputs so far,
    the steps of the scope (``siblings``) and the subflow runner (``run_group``)."""

    siblings: dict[str, Step]
    run_group: Callable[[Step, Scope, list[Link]], State[Any]]
    _tasks: dict[str, Any]
    _lock: threading.Lock

    def _unit(
        self, step: Step, path: str, item: Any, not_run: NotRun | None, error: str | None
    ) -> Outcome:
        started = time.monotonic()
        runs = not_run is None and error is None
        try:
            if step.wait is not None and runs:
                outcome = self._wait_unit(step, path, item)
            elif (step.approval or step.event) is not None and runs:
                outcome = self._ask_unit(step, path, item)
            elif step.agent is None and runs:
                outcome = self.group_unit(step, path, item)
            else:
                outcome = self._task_unit(step, path, item, not_run, error)
                if step.agent == PLANNER and outcome.state == COMPLETED and runs:
                    outcome = run_plan(self.scope, self.group_unit, step, path, item, outcome)
        except Pause as exc:  # a group or child mission suspended
            return Outcome(path, SUSPENDED, prefect_state=exc.state)
        except Exception as exc:  # an engine failure fails this step, not the whole loop
            outcome = Outcome(path, FAILED, error=f"{type(exc).__name__}: {exc}", kind="error")
        outcome.started = started
        outcome.duration = self._ran(outcome, time.monotonic() - started)
        if outcome.path != self.scope.prefix + step.id and outcome.state != SUSPENDED:
            self.journal.record(outcome)  # a for_each item
        return outcome

    def _ran(self, outcome: Outcome, measured: float) -> float:
        """The step's duration as its task run or group subflow run says (status and the report
        read the same), else as measured here (a step that never got a run)."""
        state = outcome.prefect_state
        if state is None:
            return measured
        group_started = self.journal.group_starts.get(state.state_details.task_run_id)
        if group_started is not None:
            return (state.timestamp - group_started).total_seconds()  # a group's subflow run
        task_run = self.journal.task_runs.get(state.state_details.task_run_id)
        if task_run is None:
            return measured
        seconds = run_seconds(task_run.start_time, task_run.end_time, task_run.total_run_time)
        return measured if seconds is None else seconds

    def _task_unit(
        self, step: Step, path: str, item: Any, not_run: NotRun | None, error: str | None
    ) -> Outcome:
        resolved: Any = None
        if not_run is None and error is None:
            try:
                resolved = expressions.render(step.input or {}, self._context(item))
            except ExpressionError as exc:
                error = f"input: {exc}"
        if self.scope.resuming and not_run is None and error is None:
            found = self.results.read(path, resolved)
            if found is not MISSING:
                return Outcome(path, COMPLETED, output=found, cached=True)
        policy = RetryPolicy.of(step, self.scope.defaults)
        call = self._step_call(step, path, resolved, policy, input_error=error, not_run=not_run)
        task = self._task_for(step, policy) if not_run is None else run_step
        state = task(call=quote(call), wait_for=self._needs(step), return_state=True)
        made = link(state)
        if not_run is not None:
            blocked = not_run.outcome == BLOCKED
            tell = narrate.not_run if blocked else narrate.skipped
            tell(self.scope.root_run_id, path, not_run.reason)
            error = not_run.reason if blocked else None
            return Outcome(path, not_run.outcome, error=error, prefect_state=state, link=made)
        if state.is_completed():
            cached = state.name == "Cached"
            output = state_value(state)
            return Outcome(path, COMPLETED, output, cached=cached, prefect_state=state, link=made)
        if state.is_paused():  # a wait inside the step suspended the root run
            return Outcome(path, SUSPENDED, prefect_state=read_run(self.scope.root_run_id).state)
        outcome = failed_outcome(path, state)
        outcome.link = made
        return outcome

    def group_unit(
        self, step: Step, path: str, item: Any, after: list[Link] | None = None
    ) -> Outcome:
        """Run a group, a child mission or a plan as a subflow at ``path``, after the runs of
        its needs (or of ``after``: a plan runs after its planner)."""
        inner_item = item if item is not NO_ITEM else self.scope.item
        scope = replace(self.scope, prefix=path + "/", outputs=self.outputs, item=inner_item)
        if step.child is not None:
            try:
                params = expressions.render(step.params or {}, self._context(item))
            except ExpressionError as exc:
                return Outcome(path, FAILED, error=f"params: {exc}", kind="expression")
            scope = replace(
                scope,
                mission=step.child.name,
                params={**step.child.params, **params},
                defaults=step.child.defaults,
                agents=dict(step.child.agents),
                outputs={},
                item=NO_ITEM,
            )
        basis = {"params": scope.params, "item": None if scope.item is NO_ITEM else scope.item}
        # a group whose steps have compensations runs again (each step a cache hit), so that a
        # resumed mission that fails later still knows how to undo them
        if self.scope.resuming and not _compensated_inside(step):
            found = self.results.read(path + ".all", basis)
            if found is not MISSING:
                return Outcome(path, COMPLETED, output=found, cached=True)
        state = self.run_group(step, scope, after if after is not None else self._needs(step))
        made = link_subflow(state)
        if not state.is_completed():
            exc = state_value(state, raise_on_failure=False)
            kind = getattr(exc, "kind", "error")
            return Outcome(path, FAILED, error=str(exc), kind=kind, prefect_state=state, link=made)
        output = state_value(state)
        self.results.write(path + ".all", basis, output)
        return Outcome(path, COMPLETED, output=output, prefect_state=state, link=made)

    # -- helpers -------------------------------------------------------------------------------
    def _step_call(
        self,
        step: Step,
        path: str,
        resolved: Any,
        policy: RetryPolicy,
        *,
        input_error: str | None = None,
        not_run: NotRun | None = None,
    ) -> StepCall:
        """What the step task (or an item of a batch) at ``path`` is asked to do."""
        return StepCall(
            mission=self.scope.mission,
            root_run_id=self.scope.root_run_id,
            path=path,
            agent=step.agent or "",
            input=resolved,
            timeout=policy.timeout,
            not_run=not_run.reason if not_run is not None else None,
            not_run_state=not_run.task_state if not_run is not None else SKIPPED_TASK_STATE,
            input_error=input_error,
            concurrency=step.concurrency,
            runs_on=step.runs_on,
            params=self.scope.params if step.agent == PLANNER else None,
            conversation=self._conversation(step),
        )

    def _conversation(self, step: Step) -> Conversation | None:
        """For a step that runs one of the mission's LLM agents: its conversation."""
        if step.agent not in self.scope.agents:
            return None
        return Conversation(
            agents=self.scope.agents,
            agent=step.agent,
            auto_approve=self.scope.auto_approve,
            suspends=self.scope.suspends,
            resuming=self.scope.resuming,
            run_mission=self._mission_tool,
        )

    def _mission_tool(self, path: str, spec: dict[str, Any], params: dict[str, Any]) -> Any:
        """A ``mission`` tool's call: the spec's steps as a group subflow at the call's path (the
        model's params are values, never rendered as templates); its outputs by step id."""
        child = MissionSpec.model_validate(spec)
        scope = replace(
            self.scope,
            mission=child.name,
            params={**child.params, **params},
            defaults=child.defaults,
            agents=dict(child.agents),
            prefix=path + "/",
            outputs={},
            item=NO_ITEM,
            resuming=True,  # a call run again after a crash reads its finished steps
        )
        step = Step.model_construct(id=path.rsplit("/", 1)[-1], mission=child.name, child=child)
        state = self.run_group(step, scope, [])
        if not state.is_completed():
            exc = state_value(state, raise_on_failure=False)
            raise StepError(str(exc), kind=getattr(exc, "kind", "error"), retryable=False)
        return state_value(state)

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
                    agent=step.agent,
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
