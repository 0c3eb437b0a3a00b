"""Units that wait: durable timers, approvals and events, for the scheduler.

A local run waits in-process (a timer sleeps towards its persisted deadline; an approval holds
the form; an event polls for its signal). A deployed run suspends instead (flows/suspend.py).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from autoagent import expressions, waits
from autoagent.errors import ExpressionError
from autoagent.spec import Step
from flows.outcomes import (
    COMPLETED,
    FAILED,
    SUSPENDED,
    WAITING,
    Outcome,
    Scope,
    failed_outcome,
    record,
    state_value,
)
from flows.results import MISSING, Results
from flows.suspend import reschedule_at, suspend_for, timer_suspends


class WaitingUnits:
    """Mixed into the Scheduler: what it needs is ``scope``, ``results`` and ``_context``."""

    scope: Scope
    results: Results

    def _context(self, item: Any = ...) -> dict[str, Any]:  # provided by the Scheduler
        raise NotImplementedError

    def _wait_unit(self, step: Step, path: str, item: Any) -> Outcome:
        """A durable timer: fix the deadline once (persisted), then sleep towards it."""
        from blocks.storage import result_storage
        from tasks.wait import fix_deadline, sleep_until

        assert step.wait is not None
        try:
            wait = expressions.render(
                step.wait.model_dump(mode="json", exclude_none=True), self._context(item)
            )
        except ExpressionError as exc:
            return Outcome(path, FAILED, error=f"wait: {exc}", kind="expression")
        storage = result_storage()
        common = {"root_run_id": self.scope.root_run_id, "path": path}
        state = fix_deadline.with_options(result_storage=storage)(
            **common, wait=wait, return_state=True
        )
        if not state.is_completed():
            return failed_outcome(path, state)
        deadline = state_value(state)
        root = UUID(self.scope.root_run_id)
        if self.scope.suspends and timer_suspends(deadline):
            suspended = reschedule_at(self.scope.root_run_id, path, deadline)
            return Outcome(path, SUSPENDED, prefect_state=suspended)
        waits.mark_waiting(root, path, {"kind": "timer", "deadline": deadline})
        state = sleep_until.with_options(result_storage=storage)(
            **common, deadline=deadline, return_state=True
        )
        if not state.is_completed():
            return failed_outcome(path, state)
        waits.clear_waiting(root, path)
        return Outcome(path, COMPLETED, output=state_value(state), cached=state.name == "Cached")

    def _ask_unit(self, step: Step, path: str, item: Any) -> Outcome:
        """An approval or an event: wait for someone, durably (see tasks/ask.py)."""
        from blocks.storage import result_storage
        from tasks.ask import answered, ask, await_signal, basis, consume_signal

        context = self._context(item)
        try:
            if step.approval is not None:
                unit, params = (
                    ask,
                    {
                        "approval": step.approval.model_dump(mode="json"),
                        "title": str(expressions.render(step.approval.title, context)),
                        "description": str(expressions.render(step.approval.description, context)),
                        "auto_approve": self.scope.auto_approve,
                    },
                )
            else:
                assert step.event is not None
                unit, params = (
                    await_signal,
                    {
                        "key": str(expressions.render(step.event.key, context)),
                        "timeout": step.event.timeout,
                    },
                )
        except ExpressionError as exc:
            return Outcome(path, FAILED, error=f"{step.kind}: {exc}", kind="expression")
        if self.scope.resuming:
            found = self.results.read(path, basis(params))
            if found is not MISSING:
                return Outcome(path, COMPLETED, output=found, cached=True)
        given = params.get("auto_approve") or answered(self.scope.root_run_id, path, params)
        timeout = (step.approval or step.event).timeout  # type: ignore[union-attr]
        if not given and self.scope.suspends and timeout is None:
            suspended = suspend_for(self.scope.root_run_id, path, params)
            return Outcome(path, SUSPENDED, prefect_state=suspended)
        if not given:
            record(self.scope, Outcome(path, WAITING, output=params))  # tells the CLI who to ask
        state = unit.with_options(result_storage=result_storage())(
            root_run_id=self.scope.root_run_id, path=path, **params, return_state=True
        )
        if not state.is_completed():
            return failed_outcome(path, state)
        if step.event is not None:
            consume_signal(self.scope.root_run_id, path, params["key"])
        cached = state.name == "Cached"
        return Outcome(
            path, COMPLETED, output=state_value(state), cached=cached, prefect_state=state
        )
