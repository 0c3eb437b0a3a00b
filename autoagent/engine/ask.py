"""Steps that wait for someone: approvals and events, in the mission's own process.

An approval pauses the root mission run with its form (Prefect's Paused state with a run input
keyset, so the UI shows the form and the server validates answers) and polls until an answer
arrives or its deadline passes. One form shows at a time: parallel approvals queue, and each can
be answered early (``autoagent approve --step``). An event polls for its signal. Both record what
they wait for (see autoagent.server.inputs), and their results are persisted under the step path,
so a resumed mission never asks twice; the deadline counts from the first time the step was
reached.
"""

from __future__ import annotations

import threading
import time
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect import task
from prefect.states import Running

from autoagent.engine import narrate
from autoagent.engine.journal import keep_run
from autoagent.engine.pauses import pause_on
from autoagent.engine.results import cache_key
from autoagent.errors import StepError
from autoagent.server import forms, inputs, telemetry
from autoagent.server.client import client
from autoagent.spec.models import Approval

POLL_SECONDS = 0.1
"""The first poll for an answer: one often comes within seconds (a person at the form, a test)."""
POLL_MAX_SECONDS = 2.0
"""Polls slow down to this (x1.5 each time): a wait of days costs ~1 request a second, not 20."""


class _FormLock:
    """The one form of a run: its approvals waiting in this process take turns on it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()


_form_locks: weakref.WeakValueDictionary[str, _FormLock] = weakref.WeakValueDictionary()
"""By root run id, while an approval of that run waits here (each holds its lock object): a
process that runs missions for months keeps none of the runs that stopped waiting."""
_form_locks_guard = threading.Lock()


def _form_lock(root_run_id: str) -> _FormLock:
    with _form_locks_guard:
        found = _form_locks.get(root_run_id)
        if found is None:
            found = _form_locks[root_run_id] = _FormLock()
        return found


def _ask(
    *,
    root_run_id: str,
    path: str,
    approval: dict[str, Any],
    title: str,
    description: str,
    auto_approve: bool = False,
) -> dict[str, Any]:
    """Wait for the answer to one approval step; its output is the answer."""
    spec = Approval.model_validate(approval)
    if auto_approve:
        answer = forms.default_answer(spec, True, "auto-approved")
        telemetry.approval_answered(root_run_id, path, True, "auto", None)
        return _judge(spec, root_run_id, path, answer, "auto-approve")
    root = UUID(root_run_id)
    model, info = forms.asked(spec, title, description)
    marker = inputs.mark_waiting(root, path, {**info, "deadline": deadline_in(spec.timeout)})
    deadline = marker.get("deadline")  # the first attempt's: a resume waits only for what is left
    form = _form_lock(root_run_id)  # referenced while this step waits: the map keeps it then
    answer: dict[str, Any] | None = None
    while answer is None:
        answer = _given(root, path)
        if answer is not None:
            break
        if _passed(deadline):
            break
        if form.lock.acquire(timeout=POLL_SECONDS):
            try:
                answer = _pause_for(root, path, model, title, deadline)
            finally:
                form.lock.release()
            break
    by = _answered_by(root, path) if answer is not None else None
    how = "person" if answer is not None else "timeout"
    answer = _timed_out(spec, path) if answer is None else forms.with_defaults(spec, answer)
    telemetry.approval_answered(root_run_id, path, forms.approved(answer), how, marker.get("since"))
    inputs.clear_waiting(root, path)
    return _judge(spec, root_run_id, path, answer, by)


def _answered_by(root: UUID, path: str) -> str | None:
    """Who answered, when the answer came through AutoAgent (the UI does not say)."""
    found = inputs.read_input(root, inputs.answered_by_key(path))
    return found.get("by") if isinstance(found, dict) else None


def _given(root: UUID, path: str) -> dict[str, Any] | None:
    """An answer already on the server: from the form, or given early."""
    form = inputs.keyset(path)
    found = inputs.read_input(root, form["response"])
    if found is None:
        found = inputs.read_input(root, inputs.answer_key(path))
    return found


def _pause_for(
    root: UUID, path: str, model: Any, title: str, deadline: str | None
) -> dict[str, Any] | None:
    """Pause the root run on this step's form until answered; None when the deadline passed."""
    answer = _given(root, path)
    if answer is not None:
        return answer
    form = inputs.keyset(path)
    with client() as prefect:
        message = f"waiting for approval of {path!r}: {title}"
        pause_on(prefect, root, path, message=message, form=form)
        model.save(form, flow_run_id=root)
        polls = _Polls(deadline)
        try:
            while True:
                polls.sleep()
                current = prefect.read_flow_run(root).state
                if current is not None and current.is_running():
                    answer = inputs.read_input(root, form["response"])
                    if answer is not None:
                        return answer
                    return _pause_for(root, path, model, title, deadline)  # resumed empty
                if current is None or not current.is_paused():
                    left = current.name if current else "no state"
                    raise StepError(
                        f"the mission left its pause for {path!r}: {left}",
                        kind="cancelled",
                        retryable=False,
                    )
                early = inputs.read_input(root, inputs.answer_key(path))
                if early is not None or _passed(deadline):
                    prefect.set_flow_run_state(root, Running(), force=True)
                    return early
        except BaseException:
            _leave_pause(prefect, root)
            raise


def _leave_pause(prefect: Any, root: UUID) -> None:
    """A pause this process owns must not outlive the wait (a failed step, an interrupt)."""
    try:
        current = prefect.read_flow_run(root).state
        if current is not None and current.is_paused():
            prefect.set_flow_run_state(root, Running(), force=True)
    except Exception:
        pass


def _timed_out(spec: Approval, path: str) -> dict[str, Any]:
    if spec.on_timeout == "fail":
        raise StepError(
            f"approval {path!r} was not answered within {spec.timeout:g}s",
            kind="timeout",
            retryable=False,
        )
    approved = spec.on_timeout == "approve"
    return forms.default_answer(spec, approved, f"timed out after {spec.timeout:g}s")


def _judge(
    spec: Approval, root_run_id: str, path: str, answer: dict[str, Any], by: str | None
) -> dict[str, Any]:
    result = forms.output(answer)
    narrate.answered(root_run_id, path, result, by)
    if not forms.approved(answer) and spec.on_reject == "fail":
        comment = answer.get("comment") or "no comment"
        message = f"approval {path!r} was rejected: {comment}"
        raise StepError(message, kind="rejected", retryable=False)
    return result


def _await_signal(*, root_run_id: str, path: str, key: str, timeout: float | None = None) -> Any:
    """Wait for the signal ``key``; its payload is the step's output."""
    root = UUID(root_run_id)
    marker = inputs.mark_waiting(
        root, path, {"kind": "event", "key": key, "deadline": deadline_in(timeout)}
    )
    deadline = marker.get("deadline")
    polls = _Polls(deadline)
    while True:
        found = inputs.read_input(root, inputs.signal_key(key))
        if found is not None:
            return found["data"]
        if _passed(deadline):
            raise StepError(
                f"event {key!r} of step {path!r} did not arrive within {timeout:g}s",
                kind="timeout",
                retryable=False,
            )
        polls.sleep()


def begin_wait(root_run_id: str, path: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Before an approval or event step that will wait: mark it on the server (status, list and
    the report read the marker) and say in the run's log what it waits for and how to answer.
    The step's task finds the marker, so a resume keeps the first deadline."""
    if "approval" in parameters:
        spec = Approval.model_validate(parameters["approval"])
        _, info = forms.asked(spec, parameters["title"], parameters["description"])
        timeout = spec.timeout
    else:
        info, timeout = {"kind": "event", "key": parameters["key"]}, parameters.get("timeout")
    marker = inputs.mark_waiting(
        UUID(root_run_id), path, {**info, "deadline": deadline_in(timeout)}
    )
    narrate.waiting(root_run_id, path, marker)
    return marker


def answered(root_run_id: str, path: str, parameters: dict[str, Any]) -> bool:
    """Whether the answer (or signal) is already there, so the step will not wait."""
    root = UUID(root_run_id)
    if "approval" in parameters:
        return _given(root, path) is not None
    return inputs.read_input(root, inputs.signal_key(parameters["key"])) is not None


def consume_signal(root_run_id: str, path: str, key: str) -> None:
    """After the step's output is persisted: the signal is used up, the wait is over."""
    root = UUID(root_run_id)
    inputs.delete_input(root, inputs.signal_key(key))
    inputs.clear_waiting(root, path)


class _Polls:
    """Sleeps between polls: fast at first, slower the longer the wait, never past the
    deadline (so a timeout is noticed on time)."""

    def __init__(self, deadline: str | None):
        self.deadline = datetime.fromisoformat(deadline) if deadline else None
        self.delay = POLL_SECONDS

    def sleep(self) -> None:
        delay = self.delay
        if self.deadline is not None:
            left = (self.deadline - datetime.now(UTC)).total_seconds()
            delay = min(delay, max(left, 0.0) + 0.01)
        time.sleep(delay)
        self.delay = min(self.delay * 1.5, POLL_MAX_SECONDS)


def deadline_in(timeout: float | None) -> str | None:
    """The deadline of a wait that starts now, as ISO 8601 (None without a timeout)."""
    if timeout is None:
        return None
    return (datetime.now(UTC) + timedelta(seconds=timeout)).isoformat()


def _passed(deadline: str | None) -> bool:
    return deadline is not None and datetime.now(UTC) >= datetime.fromisoformat(deadline)


def _key(context: Any, parameters: dict[str, Any]) -> str:
    """Keyed like a step (root run, path, what was asked), so a resume reads it directly."""
    return cache_key(parameters["root_run_id"], parameters["path"], basis(parameters))


def basis(parameters: dict[str, Any]) -> Any:
    """What identifies the question: for an approval its form, for an event its key."""
    if "approval" in parameters:
        return {"title": parameters["title"], "description": parameters["description"]}
    return {"event": parameters["key"]}


ask = task(
    _ask,
    name="approval",
    task_run_name="{path}",
    persist_result=True,
    result_serializer="json",
    on_completion=[keep_run],
    on_failure=[narrate.failed_hook, keep_run],
    cache_key_fn=_key,
)
await_signal = task(
    _await_signal,
    name="event",
    task_run_name="{path}",
    persist_result=True,
    result_serializer="json",
    on_completion=[keep_run],
    on_failure=[narrate.failed_hook, keep_run],
    cache_key_fn=_key,
)
