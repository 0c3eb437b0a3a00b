"""What a mission run waits for, kept on the server with the run, and how to answer it.

Everything a person or another system gives a run is a flow run input of the root mission run, so
it survives any process dying and a resumed mission finds it (design.md section 6):

- ``autoagent-wait-<step>``: a marker written when a step starts waiting (kind, title, form, event
  key, deadline, since when), removed when the wait is over. Status and list read these.
- ``approval-<step>-{schema,description,response}``: the Prefect keyset of the step's form; the
  UI's Resume form and ``resume_flow_run`` put the answer under ``response``.
- ``autoagent-answer-<step>``: an answer given while the run is not paused on that step (another
  approval holds the form, or the process is down); the step takes it when it gets there.
- ``autoagent-signal-<key>``: a signal's JSON payload, kept until an event step consumes it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx

from autoagent.connection import ensure_api
from autoagent.errors import AutoAgentError, RunError
from autoagent.reader import WAIT_PREFIX, open_reader

ANSWER_PREFIX = "autoagent-answer-"
SIGNAL_PREFIX = "autoagent-signal-"


def slug(text: str) -> str:
    """A flow-run-input key part for any text: readable, alphanumeric and dashes, unique."""
    readable = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40]
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{readable}-{digest}" if readable else digest


def keyset(path: str) -> dict[str, str]:
    """The Prefect keyset of an approval step's form, stable across resumes."""
    from prefect.input.run_input import keyset_from_base_key

    return keyset_from_base_key(f"approval-{slug(path)}")


def wait_key(path: str) -> str:
    return WAIT_PREFIX + slug(path)


def answer_key(path: str) -> str:
    return ANSWER_PREFIX + slug(path)


def signal_key(key: str) -> str:
    return SIGNAL_PREFIX + slug(key)


# -- the run's own records ---------------------------------------------------------------------
def read_input(run_id: UUID, key: str) -> Any | None:
    """A flow run input's decoded value, or None when there is none."""
    from autoagent.runs import _client

    with _client() as client:
        try:
            value = client.read_flow_run_input(run_id, key)
        except Exception as exc:
            if _status(exc) == 404:
                return None
            raise
    if not value:
        return None
    return json.loads(value)


def write_input(run_id: UUID, key: str, value: Any) -> bool:
    """Create a flow run input; False when one with that key exists already."""
    from autoagent.runs import _client

    with _client() as client:
        try:
            client.create_flow_run_input(run_id, key, json.dumps(value))
        except Exception as exc:
            if _status(exc) == 409:
                return False
            raise
    return True


def delete_input(run_id: UUID, key: str) -> None:
    from autoagent.runs import _client

    with _client() as client:
        try:
            client.delete_flow_run_input(run_id, key)
        except Exception as exc:
            if _status(exc) != 404:
                raise


def mark_waiting(run_id: UUID, path: str, info: dict[str, Any]) -> dict[str, Any]:
    """Say the step waits; a resumed step finds its first marker (and so its first deadline)."""
    found = read_input(run_id, wait_key(path))
    if found is not None:
        return found
    marker = {"path": path, "since": datetime.now(UTC).isoformat(), **info}
    if not write_input(run_id, wait_key(path), marker):
        return read_input(run_id, wait_key(path)) or marker
    return marker


def clear_waiting(run_id: UUID, path: str) -> None:
    delete_input(run_id, wait_key(path))


def waiting(run_id: UUID) -> list[dict[str, Any]]:
    """Every step of the run that waits now, in the order they started waiting."""
    ensure_api()
    with open_reader() as reader:
        return reader.waiting(run_id)


def summary(markers: list[dict[str, Any]]) -> str:
    """Who a run waits for, in a few words: ``approval review; event payment-42``."""
    parts = []
    for marker in markers:
        kind = marker.get("kind", "?")
        what = marker.get("key") if kind == "event" else marker["path"]
        if kind == "timer":
            what = f"{marker['path']} until {marker.get('deadline', '?')}"
        parts.append(f"{kind} {what}")
    return "; ".join(parts)


def pause_on(
    client: Any,
    root: UUID,
    path: str,
    *,
    message: str,
    form: dict[str, str] | None = None,
    suspend: bool = False,
) -> Any:
    """Pause (or, for a deployed run, suspend) the root run on one step; returns the new state.

    The pause key is the step path and the attempt (the run's run_count), so it is stable within
    an attempt and a later attempt may ask again; Prefect refuses a key that already fired, so a
    second pause of the same step in one attempt gets a fresh suffix.
    """
    import uuid

    from prefect.states import Paused

    from autoagent.errors import StepError

    base = f"{slug(path)}-{client.read_flow_run(root).run_count}"
    reason = ""
    for key in (base, f"{base}-{uuid.uuid4().hex[:6]}"):
        state = Paused(
            reschedule=suspend,
            pause_key=key,
            name="Suspended" if suspend else "Paused",
            message=message,
        )
        state.state_details.run_input_keyset = form
        result = client.set_flow_run_state(root, state)
        if result.state is not None and result.state.is_paused():
            return result.state
        reason = getattr(result.details, "reason", "") or result.status.value
        if "already fired" not in str(reason):
            break
    verb = "suspend" if suspend else "pause"
    raise StepError(f"could not {verb} the mission for {path!r}: {reason}")


# -- answering ------------------------------------------------------------------------------
def approve(
    run_id: str,
    step: str | None = None,
    *,
    approved: bool = True,
    comment: str = "",
    fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Answer an approval step of a run; returns the answer sent.

    The answer is checked against the step's form here first (naming a wrong field's type). When
    the run is paused on that step it goes through ``resume_flow_run`` (the server validates it
    against the form too; a refusal leaves the run waiting); otherwise it is kept until the step
    takes it. A rejection needs no field (fields left None are dropped from it).
    """
    from prefect.client.schemas.responses import SetStateStatus

    from autoagent import approvals
    from autoagent.runs import _client

    flow_run = _open_run(run_id, "an approval")
    marker = _pick(flow_run.id, step, "approval")
    path = marker["path"]
    given = {k: v for k, v in (fields or {}).items() if approved or v is not None}
    answer = {"approved": approved, "comment": comment, **given}  # a no ignores empty fields
    state = flow_run.state
    form = keyset(path)
    paused_here = (
        state is not None
        and state.is_paused()
        and (state.state_details.run_input_keyset or {}).get("response") == form["response"]
    )
    try:
        approvals.check_answer(marker["schema"], answer)
    except ValueError as exc:
        raise AutoAgentError(f"answer to {path!r} refused: {_one_line(str(exc))}") from None
    if paused_here:
        with _client() as client:
            result = client.resume_flow_run(flow_run.id, run_input=answer)
        if result.status != SetStateStatus.ACCEPT:
            reason = getattr(result.details, "reason", None) or result.status.value
            raise AutoAgentError(f"answer to {path!r} refused: {_one_line(reason)}")
        return answer
    if read_input(flow_run.id, form["response"]) is not None or not write_input(
        flow_run.id, answer_key(path), answer
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
    if not write_input(flow_run.id, signal_key(key), {"key": key, "data": data}):
        raise RunError(
            f"a signal {key!r} was already delivered to run {run_id} and is not consumed yet"
        )
    state = flow_run.state
    suspended = state is not None and state.is_paused() and state.state_details.pause_reschedule
    if suspended and any(
        m.get("kind") == "event" and m.get("key") == key for m in waiting(flow_run.id)
    ):
        from autoagent.runs import _client

        with _client() as client:  # a suspended deployed run: reschedule it now
            client.resume_flow_run(flow_run.id)


def _open_run(run_id: str, what: str) -> Any:
    from autoagent.runs import read_run

    flow_run = read_run(run_id)
    if flow_run.state is not None and flow_run.state.is_final():
        raise RunError(
            f"run {run_id} already ended ({flow_run.state.name}): it takes no {what.split()[-1]}"
        )
    return flow_run


def _pick(run_id: UUID, step: str | None, kind: str) -> dict[str, Any]:
    markers = [m for m in waiting(run_id) if m.get("kind") == kind]
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


def _status(exc: Exception) -> int | None:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
