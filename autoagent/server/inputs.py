"""What a mission run keeps on the server as flow run inputs of its root run, and the keys.

Everything a person or another system gives a run, and every marker a run needs to find again
after a crash, is a flow run input of the root mission run, so it survives any process dying and
a resumed mission finds it (design.md section 6):

- ``autoagent-wait-<step>``: a marker written when a step starts waiting (kind, title, form, event
  key, deadline, since when), removed when the wait is over. Status and list read these.
- ``approval-<step>-{schema,description,response}``: the Prefect keyset of the step's form; the
  UI's Resume form and ``resume_flow_run`` put the answer under ``response``.
- ``autoagent-answer-<step>``: an answer given while the run is not paused on that step (another
  approval holds the form, or the process is down); the step takes it when it gets there.
- ``autoagent-answered-by-<step>``: who gave an approval's answer through AutoAgent (the CLI or
  Python; the UI's form does not say), for the run's log.
- ``autoagent-signal-<key>``: a signal's JSON payload, kept until an event step consumes it.
- ``autoagent-compensating-<step>``: written before a compensation starts (each runs at most once).
- ``autoagent-entrypoint``: where a mission written as code is imported from to resume it.
- ``autoagent-output``: the output (or error) of a ``runs_on`` step, on its child run.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
from prefect.input import keyset_from_base_key

from autoagent.server.client import client
from autoagent.server.connection import ensure_api
from autoagent.server.reader import WAIT_PREFIX, open_reader

ANSWER_PREFIX = "autoagent-answer-"
ANSWERED_BY_PREFIX = "autoagent-answered-by-"
SIGNAL_PREFIX = "autoagent-signal-"
COMPENSATING_PREFIX = "autoagent-compensating-"
ENTRYPOINT_KEY = "autoagent-entrypoint"
OUTPUT_KEY = "autoagent-output"


def slug(text: str) -> str:
    """A flow-run-input key part for any text: readable, alphanumeric and dashes, unique."""
    readable = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40]
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{readable}-{digest}" if readable else digest


def keyset(path: str) -> dict[str, str]:
    """The Prefect keyset of an approval step's form, stable across resumes."""
    return keyset_from_base_key(f"approval-{slug(path)}")


def wait_key(path: str) -> str:
    return WAIT_PREFIX + slug(path)


def answer_key(path: str) -> str:
    return ANSWER_PREFIX + slug(path)


def answered_by_key(path: str) -> str:
    return ANSWERED_BY_PREFIX + slug(path)


def signal_key(key: str) -> str:
    return SIGNAL_PREFIX + slug(key)


def compensating_key(path: str) -> str:
    return COMPENSATING_PREFIX + slug(path)


# -- reading and writing ------------------------------------------------------------------------
def read_input(run_id: UUID, key: str) -> Any | None:
    """A flow run input's decoded value, or None when there is none."""
    with client() as prefect:
        try:
            value = prefect.read_flow_run_input(run_id, key)
        except Exception as exc:
            if _status(exc) == 404:
                return None
            raise
    if not value:
        return None
    return json.loads(value)


def write_input(run_id: UUID, key: str, value: Any) -> bool:
    """Create a flow run input; False when one with that key exists already."""
    with client() as prefect:
        try:
            prefect.create_flow_run_input(run_id, key, json.dumps(value))
        except Exception as exc:
            if _status(exc) == 409:
                return False
            raise
    return True


def delete_input(run_id: UUID, key: str) -> None:
    with client() as prefect:
        try:
            prefect.delete_flow_run_input(run_id, key)
        except Exception as exc:
            if _status(exc) != 404:
                raise


# -- what waits -------------------------------------------------------------------------------
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


def _status(exc: Exception) -> int | None:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)
