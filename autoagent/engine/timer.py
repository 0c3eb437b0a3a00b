"""Durable timers for local runs: the deadline is fixed once, persisted, then slept towards.

The deadline is the result of its own persisted task, keyed by the step path, so a resume after a
crash reads the deadline the first attempt fixed and sleeps only for what is left of it. A
deployed run with a long timer is rescheduled at the deadline instead (engine/suspend.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import task

from autoagent.engine import narrate
from autoagent.engine.journal import keep_run
from autoagent.errors import StepError

SLICE_SECONDS = 0.5


def _fix_deadline(*, root_run_id: str, path: str, wait: dict[str, Any]) -> str:
    """The wait's deadline as an ISO 8601 UTC time, computed the first time the step is reached."""
    if wait.get("until") is not None:
        until = wait["until"]
        moment = until if isinstance(until, datetime) else _parse(until, path)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    try:
        seconds = float(wait["seconds"])
    except (TypeError, ValueError):
        raise StepError(
            f"wait.seconds of step {path!r} is not a number: {wait.get('seconds')!r}",
            kind="input",
            retryable=False,
        ) from None
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _sleep_until(*, root_run_id: str, path: str, deadline: str) -> dict[str, str]:
    """Sleep in short slices until the deadline; the step's output says when it woke."""
    end = datetime.fromisoformat(deadline)
    while (left := (end - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(min(left, SLICE_SECONDS))
    return {"until": deadline, "woke_at": datetime.now(UTC).isoformat()}


def _parse(text: str, path: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise StepError(
            f"wait.until of step {path!r} is not an ISO 8601 time: {text!r}",
            kind="input",
            retryable=False,
        ) from None


def _key(suffix: str):
    def key(context: Any, parameters: dict[str, Any]) -> str:
        return f"{parameters['root_run_id']}/{parameters['path']}/{suffix}"

    return key


fix_deadline = task(
    _fix_deadline,
    name="wait-deadline",
    task_run_name="{path}#deadline",
    persist_result=True,
    result_serializer="json",
    on_completion=[keep_run],
    on_failure=[narrate.failed_hook, keep_run],
    cache_key_fn=_key("deadline"),
)
sleep_until = task(
    _sleep_until,
    name="wait",
    task_run_name="{path}",
    persist_result=True,
    result_serializer="json",
    on_completion=[keep_run],
    on_failure=[narrate.failed_hook, keep_run],
    cache_key_fn=_key("woke"),
)
