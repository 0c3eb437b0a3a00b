"""Units that wait: durable timers, approvals and events, for the scheduler.

A local run waits in-process (a timer sleeps towards its persisted deadline; an approval holds
the form; an event polls for its signal). A deployed run suspends instead (engine/suspend.py).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from autoagent import expressions
from autoagent.engine import narrate
from autoagent.engine.ask import (
    answered,
    ask,
    await_signal,
    basis,
    begin_wait,
    consume_signal,
)
from autoagent.engine.graph import Link, link, links, quoted
from autoagent.engine.journal import Journal
from autoagent.engine.outcome import (
    COMPLETED,
    FAILED,
    SUSPENDED,
    WAITING,
    Outcome,
    failed_outcome,
    state_value,
)
from autoagent.engine.results import MISSING, Results
from autoagent.engine.scope import NO_ITEM, Scope
from autoagent.engine.storage import result_storage
from autoagent.engine.suspend import reschedule_at, suspend_for, timer_suspends
from autoagent.engine.timer import fix_deadline, sleep_until
from autoagent.errors import ExpressionError
from autoagent.server import inputs
from autoagent.spec import Step


class WaitingUnits:
    """Mixed into the Scheduler, which holds what these read: the scope, the persisted results,
    the run's journal and the outputs so far (what expressions see, with ``_context``)."""

    scope: Scope
    results: Results
    journal: Journal
    outputs: dict[str, Any]
    outcomes: dict[str, Outcome]

    def _context(self, item: Any = NO_ITEM) -> dict[str, Any]:
        context: dict[str, Any] = {
            "params": self.scope.params,
            "steps": {k: {"output": v} for k, v in self.outputs.items()},
        }
        item = item if item is not NO_ITEM else self.scope.item
        if item is not NO_ITEM:
            context["item"] = item
        return context

    def _needs(self, step: Step) -> list[Link]:
        """Stand-ins for the runs of the step's needs: its arrows in the run graph."""
        return links(self.outcomes[need].link for need in step.needs if need in self.outcomes)

    def _wait_unit(self, step: Step, path: str, item: Any) -> Outcome:
        """A durable timer: fix the deadline once (persisted), then sleep towards it."""
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
            **quoted(**common, wait=wait), wait_for=self._needs(step), return_state=True
        )
        if not state.is_completed():
            return failed_outcome(path, state)
        deadline = state_value(state)
        fixed = links([link(state)])
        root = UUID(self.scope.root_run_id)
        if self.scope.suspends and timer_suspends(deadline):
            suspended = reschedule_at(self.scope.root_run_id, path, deadline)
            return Outcome(path, SUSPENDED, prefect_state=suspended)
        waited = {"kind": "timer", "deadline": deadline}
        inputs.mark_waiting(root, path, waited)
        narrate.waiting(self.scope.root_run_id, path, waited)
        state = sleep_until.with_options(result_storage=storage)(
            **quoted(**common, deadline=deadline), wait_for=fixed, return_state=True
        )
        if not state.is_completed():
            return failed_outcome(path, state)
        inputs.clear_waiting(root, path)
        cached = state.name == "Cached"
        output = state_value(state)
        return Outcome(
            path, COMPLETED, output, cached=cached, prefect_state=state, link=link(state)
        )

    def _ask_unit(self, step: Step, path: str, item: Any) -> Outcome:
        """An approval or an event: wait for someone, durably (see engine/ask.py)."""
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
        if not given:  # marked before the report says it waits
            begin_wait(self.scope.root_run_id, path, params)
            self.journal.record(Outcome(path, WAITING, output=params))  # tells the CLI who to ask
        arguments = quoted(root_run_id=self.scope.root_run_id, path=path, **params)
        state = unit.with_options(result_storage=result_storage())(
            **arguments, wait_for=self._needs(step), return_state=True
        )
        made = link(state)
        if not state.is_completed():
            outcome = failed_outcome(path, state)
            outcome.link = made
            return outcome
        if step.event is not None:
            consume_signal(self.scope.root_run_id, path, params["key"])
            narrate.received(self.scope.root_run_id, path, params["key"])
        cached = state.name == "Cached"
        output = state_value(state)
        return Outcome(path, COMPLETED, output, cached=cached, prefect_state=state, link=made)
