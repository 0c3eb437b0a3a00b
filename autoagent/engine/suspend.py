"""How a deployed mission waits with no process alive (design.md section 2).

A run started from a deployment does not hold its worker while it waits: an approval or an event
suspends the root run (Prefect's Suspended state, with the approval's form), a long timer
reschedules it at its deadline. The process then exits; an answer (``resume_flow_run``), a signal
or the schedule brings the same flow run id back on its deployment, and the mission re-runs from
the top with completed steps read from their persisted results.

Waits with a timeout are the exception: nothing on the server would end them on time, so they
keep waiting in-process (``engine/ask.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect.client.schemas.objects import FlowRun
from prefect.states import Scheduled, State

from autoagent.engine import narrate
from autoagent.engine.driving import local_run
from autoagent.engine.pauses import pause_on
from autoagent.errors import StepError
from autoagent.server import forms, inputs
from autoagent.server.client import client
from autoagent.server.fencing import hand_over
from autoagent.settings import get_settings
from autoagent.spec.models import Approval


def suspends(flow_run: FlowRun) -> bool:
    """Whether waits in this flow run suspend: a deployed run, not one that ``autoagent run`` or
    ``resume`` drives in-process to its end."""
    return flow_run.deployment_id is not None and local_run() is None


def timer_suspends(deadline: str) -> bool:
    """Whether a timer is long enough to end the process rather than sleep in it."""
    left = (datetime.fromisoformat(deadline) - datetime.now(UTC)).total_seconds()
    return left > get_settings().suspend_min_seconds


def suspend_for(root_run_id: str, path: str, params: dict[str, Any]) -> State:
    """Suspend the root run until the approval (``params`` of engine.ask.ask) or the event
    (``params`` of engine.ask.await_signal) is answered."""
    root = UUID(root_run_id)
    if "approval" in params:
        spec = Approval.model_validate(params["approval"])
        model, info = forms.asked(spec, params["title"], params["description"])
        form: dict[str, str] | None = inputs.keyset(path)
        message = f"suspended: waiting for approval of {path!r}: {params['title']}"
    else:
        model, form = None, None
        info = {"kind": "event", "key": params["key"]}
        message = f"suspended: waiting for the event {params['key']!r} ({path})"
    inputs.mark_waiting(root, path, {**info, "deadline": None})
    narrate.waiting(root_run_id, path, info)
    with client() as prefect:
        state = pause_on(prefect, root, path, message=message, form=form, suspend=True)
        if model is not None and form is not None:
            model.save(form, flow_run_id=root)
        elif inputs.read_input(root, inputs.signal_key(params["key"])) is not None:
            prefect.resume_flow_run(root)  # the signal came while suspending: go on at once
    return state


def reschedule_at(root_run_id: str, path: str, deadline: str) -> State:
    """End this attempt and let the deployment's runner start the run again at ``deadline``."""
    root = UUID(root_run_id)
    waited = {"kind": "timer", "deadline": deadline}
    inputs.mark_waiting(root, path, waited)
    narrate.waiting(root_run_id, path, waited)
    state = Scheduled(
        scheduled_time=datetime.fromisoformat(deadline),
        name="AwaitingTimer",
        message=f"waiting for the timer {path!r} until {deadline}",
    )
    with client() as prefect:
        result = prefect.set_flow_run_state(root, state)
    if not result.state or not result.state.is_scheduled():
        reason = getattr(result.details, "reason", "") or result.status.value
        raise StepError(f"could not reschedule the mission for {path!r}: {reason}")
    hand_over(result.state)  # the deployment's runner takes the run from this process
    return result.state
