"""Putting the root mission run in Prefect's Paused or Suspended state, with an approval's form.

Prefect's ``pause_flow_run`` and ``suspend_flow_run`` cannot serve an approval step, so the state
is proposed here with Prefect's own ``Paused``/``Suspended`` states and ``set_flow_run_state``
(design.md section 2 says why): the approval is a task (its answer persists like any step
result), a step of a group pauses the *root* run (where the UI shows the form), a wait may have
no timeout (``pause_flow_run`` needs one), parallel approvals take turns on one form and may be
answered early, and the form's keyset is the step's, stable across attempts, where Prefect
derives it from a pause key that must change with each attempt.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.states import Paused, State, Suspended

from autoagent.errors import StepError
from autoagent.server.fencing import hand_over
from autoagent.server.inputs import slug


def pause_on(
    client: SyncPrefectClient,
    root: UUID,
    path: str,
    *,
    message: str,
    form: dict[str, str] | None = None,
    suspend: bool = False,
) -> State[Any]:
    """Pause (or, for a deployed run, suspend) the root run on one step; returns the new state.

    The pause key is the step path and the attempt (the run's run_count), so it is stable within
    an attempt and a later attempt may ask again; Prefect refuses a key that already fired, so a
    second pause of the same step in one attempt gets a fresh suffix.
    """
    base = f"{slug(path)}-{client.read_flow_run(root).run_count}"
    reason = ""
    for key in (base, f"{base}-{uuid.uuid4().hex[:6]}"):
        make = Suspended if suspend else Paused
        state = make(pause_key=key, message=message)
        state.state_details.run_input_keyset = form
        result = client.set_flow_run_state(root, state)
        if result.state is not None and result.state.is_paused():
            if suspend:
                hand_over(result.state)  # whoever resumes the run takes it from this process
            return result.state
        reason = getattr(result.details, "reason", "") or result.status.value
        if "already fired" not in str(reason):
            break
    verb = "suspend" if suspend else "pause"
    raise StepError(f"could not {verb} the mission for {path!r}: {reason}")
