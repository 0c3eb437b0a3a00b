"""Prefect's client, one per session: the way AutoAgent changes runs on the server.

``session()`` opens one client for everything inside it, the flow engine included (it reuses the
current ``SyncClientContext``), so a command pays for one connection and one CSRF round trip
instead of one per call. ``client()`` is that shared client when there is one (a session, or the
flow run being executed), else a client for the block. Reading runs to show them goes through
``autoagent.server.reader`` instead, which needs no Prefect import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.context import SyncClientContext
from prefect.exceptions import ObjectNotFound
from prefect.settings import get_current_settings

from autoagent.errors import RunError
from autoagent.server.connection import ensure_api
from autoagent.server.records import parse_run_id

_session: ContextVar[SyncClientContext | None] = ContextVar("autoagent_session", default=None)


@contextlib.contextmanager
def session() -> Iterator[None]:
    """One API client for everything inside (nested sessions and flow runs share it)."""
    if SyncClientContext.get() is not None:
        yield
        return
    ensure_api()
    with SyncClientContext() as context:
        token = _session.set(context)
        try:
            yield
        finally:
            _session.reset(token)


@contextlib.contextmanager
def client() -> Iterator[SyncPrefectClient]:
    """The shared client of the current session or flow run, else one for this block."""
    context = SyncClientContext.get()
    if context is not None:
        yield context.client
        return
    ensure_api()
    with get_client(sync_client=True) as made:
        yield made


def in_session() -> bool:
    """Whether the current client belongs to a ``session()``, which outlives the flow runs it
    executes (a flow run's own client closes with the run)."""
    context = _session.get()
    return context is not None and SyncClientContext.get() is context


def read_run(run_id: str) -> FlowRun:
    """The root mission run with that id, or RunError."""
    uuid = parse_run_id(run_id)
    with client() as prefect:
        try:
            flow_run = prefect.read_flow_run(uuid)
        except ObjectNotFound:
            where = get_current_settings().api.url or "the local server"
            raise RunError(f"no mission run {run_id} on this server ({where})") from None
    if flow_run.parent_task_run_id is not None:
        raise RunError(f"run {run_id} is a group or child run: use its root mission run")
    return flow_run
