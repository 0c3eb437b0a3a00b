"""Answering a mission run from outside it: an approval (``approve``) or an event (``signal``).

What is given is kept with the run on the server (autoagent.server.inputs), so it survives any
process dying: an answer to the approval the run is paused on resumes it (the server validates it
against the form first), any other answer or signal waits for the step that takes it.
"""

from __future__ import annotations

import getpass
import json
import socket
from typing import Any
from uuid import UUID

from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import SetStateStatus

from autoagent.errors import AutoAgentError, RunError
from autoagent.server import forms, inputs
from autoagent.server.client import client, read_run


def approve(
    run_id: str,
    step: str | None = None,
    *,
    approved: bool = True,
    comment: str = "",
    fields: dict[str, Any] | None = None,
    by: str | None = None,
) -> dict[str, Any]:
    """Answer an approval step of a run; returns the answer sent. ``by``: who answers, for the
    run's log (default: this user at this host).

    The answer is checked against the step's form here first (naming a wrong field's type). When
    the run is paused on that step it goes through ``resume_flow_run`` (the server validates it
    against the form too; a refusal leaves the run waiting); otherwise it is kept until the step
    takes it. A rejection needs no field (fields left None are dropped from it).
    """
    flow_run = _open_run(run_id, "an approval")
    marker = _pick(flow_run.id, step, "approval")
    path = marker["path"]
    given = {k: v for k, v in (fields or {}).items() if approved or v is not None}
    answer = forms.answer(marker["schema"], approved, comment, given)  # a no ignores empty fields
    state = flow_run.state
    form = inputs.keyset(path)
    paused_here = (
        state is not None
        and state.is_paused()
        and (state.state_details.run_input_keyset or {}).get("response") == form["response"]
    )
    try:
        forms.check_answer(marker["schema"], answer)
    except ValueError as exc:
        raise AutoAgentError(f"answer to {path!r} refused: {_one_line(str(exc))}") from None
    _sign(flow_run.id, path, by or f"{getpass.getuser()}@{socket.gethostname()}")
    if paused_here:
        with client() as prefect:
            result = prefect.resume_flow_run(flow_run.id, run_input=answer)
        if result.status != SetStateStatus.ACCEPT:
            reason = getattr(result.details, "reason", None) or result.status.value
            raise AutoAgentError(f"answer to {path!r} refused: {_one_line(reason)}")
        return answer
    if inputs.read_input(flow_run.id, form["response"]) is not None or not inputs.write_input(
        flow_run.id, inputs.answer_key(path), answer
    ):
        raise RunError(f"step {path!r} of run {run_id} was already answered")
    return answer


def signal(run_id: str, key: str, data: Any) -> None:
    """Deliver a JSON payload to the event step waiting on ``key`` (now or later)."""
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AutoAgentError(f"signal {key!r}: the payload is not JSON: {exc}") from None
    if not key:
        raise AutoAgentError("a signal needs a key")
    flow_run = _open_run(run_id, "a signal")
    if not inputs.write_input(flow_run.id, inputs.signal_key(key), {"key": key, "data": data}):
        raise RunError(
            f"a signal {key!r} was already delivered to run {run_id} and is not consumed yet"
        )
    state = flow_run.state
    suspended = state is not None and state.is_paused() and state.state_details.pause_reschedule
    if suspended and any(
        m.get("kind") == "event" and m.get("key") == key for m in inputs.waiting(flow_run.id)
    ):
        with client() as prefect:  # a suspended deployed run: reschedule it now
            prefect.resume_flow_run(flow_run.id)


def _open_run(run_id: str, what: str) -> FlowRun:
    flow_run = read_run(run_id)
    if flow_run.state is not None and flow_run.state.is_final():
        raise RunError(
            f"run {run_id} already ended ({flow_run.state.name}): it takes no {what.split()[-1]}"
        )
    return flow_run


def _pick(run_id: UUID, step: str | None, kind: str) -> dict[str, Any]:
    markers = [m for m in inputs.waiting(run_id) if m.get("kind") == kind]
    if step is not None:
        chosen = [m for m in markers if m["path"] == step or m["path"].rsplit("/", 1)[-1] == step]
        if len(chosen) == 1:
            return chosen[0]
        names = ", ".join(m["path"] for m in markers) or "none"
        if not chosen:
            raise RunError(f"no {kind} step {step!r} waits in run {run_id} (waiting: {names})")
        raise RunError(f"several {kind} steps match {step!r} in run {run_id}: use a full path")
    if not markers:
        raise RunError(f"run {run_id} is not waiting for an {kind}")
    if len(markers) > 1:
        names = ", ".join(m["path"] for m in markers)
        raise RunError(f"run {run_id} waits for several {kind}s ({names}): choose one with --step")
    return markers[0]


def _sign(run_id: UUID, path: str, by: str) -> None:
    """Say who answers (the last one who tried, if an answer was refused before)."""
    inputs.delete_input(run_id, inputs.answered_by_key(path))
    inputs.write_input(run_id, inputs.answered_by_key(path), {"by": by})


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
