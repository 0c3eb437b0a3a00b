"""Operations on mission runs: start, resume, cancel, liveness and a complete record.

The flow runs in this process (``run_flow`` on a flow run created first, so its id is known before
any step starts); ``resume`` runs the same flow run id again after proving it is dead.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import socket
import ssl
import time
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.context import SyncClientContext
from prefect.exceptions import ObjectNotFound
from prefect.settings import get_current_settings
from prefect.states import Cancelled, Pending, State

from autoagent import processes
from autoagent.connection import ensure_api
from autoagent.errors import RunError
from autoagent.heartbeat import PROCESS_LABEL, host_pid
from autoagent.reader import open_reader
from autoagent.records import parse_run_id
from autoagent.settings import get_settings
from autoagent.spec import MissionSpec

MISSION_FLOW = "mission"
MISSION_TAG = "autoagent"
"""Every root mission run carries it: crash detection judges such runs from their ``Running``."""
IN_PROCESS: ContextVar[bool] = ContextVar("autoagent_in_process", default=False)
"""Set by ``execute``: this process runs the mission to its end (a local run, or a resume by the
CLI), so waits hold it. A deployed run started by a runner or worker suspends instead."""
logger = logging.getLogger("autoagent.runs")


@functools.cache
def _tls_context(cert_file: str | None, insecure: bool) -> ssl.SSLContext:
    """The client's TLS context, built once per process: loading the CA bundle costs ~25 ms, which
    Prefect pays for every client it makes."""
    import certifi

    context = ssl.create_default_context(cafile=cert_file or certifi.where())
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _httpx_settings() -> dict[str, Any]:
    api = get_current_settings().api
    return {"verify": _tls_context(api.ssl_cert_file, api.tls_insecure_skip_verify)}


@contextlib.contextmanager
def new_client() -> Iterator[SyncPrefectClient]:
    """A client of its own (a thread's that may outlive the current session's)."""
    ensure_api()
    with get_client(sync_client=True, httpx_settings=_httpx_settings()) as client:
        yield client


@contextlib.contextmanager
def _client() -> Iterator[SyncPrefectClient]:
    """The client of the current ``session()`` (or of the flow run), else a new one."""
    context = SyncClientContext.get()
    if context is not None:
        yield context.client
    else:
        with new_client() as client:
            yield client


@contextlib.contextmanager
def session() -> Iterator[None]:
    """One API client for everything inside: the flow engine reuses it too, so a `run` pays for
    one client (CSRF token, connection) instead of one per call."""
    if SyncClientContext.get() is not None:
        yield
        return
    ensure_api()
    context = SyncClientContext(httpx_settings=_httpx_settings())
    # get_client() hands out the context's client only to callers asking for the same
    # httpx_settings, and the engine asks for none: let it match, the TLS context is the default
    context._httpx_settings = None
    with context:
        token = _session.set(context)
        try:
            yield
        finally:
            _session.reset(token)


_session: ContextVar[SyncClientContext | None] = ContextVar("autoagent_session", default=None)


@contextlib.contextmanager
def lasting_client() -> Iterator[SyncPrefectClient]:
    """The current ``session()``'s client, which lives until ``execute`` has joined the threads
    it started, else a client of its own: a thread that may outlive the flow run's client uses it.
    Sharing the session's client saves a connection and a CSRF round trip at the end of a run."""
    context = _session.get()
    if context is not None and SyncClientContext.get() is context:
        yield context.client
    else:
        with new_client() as client:
            yield client


def mark_alive(run_id: str) -> None:
    """Record which process runs the mission, so resume can tell a live run from a dead one."""
    with _client() as client:
        client.update_flow_run(UUID(run_id), infrastructure_pid=host_pid())


def read_run(run_id: str) -> FlowRun:
    """The root mission run with that id, or RunError."""
    uuid = parse_run_id(run_id)
    with _client() as client:
        try:
            flow_run = client.read_flow_run(uuid)
        except ObjectNotFound:
            raise RunError(f"no mission run {run_id} on this server ({_api()})") from None
        if flow_run.parent_task_run_id is not None:
            raise RunError(f"run {run_id} is a group or child run: use its root mission run")
        return flow_run


def start(spec: MissionSpec, params: dict[str, Any], auto_approve: bool = False) -> FlowRun:
    """Create the flow run (Pending) so its id exists before anything runs."""
    from flows.mission import mission
    from tasks.remote import check_pools

    check_pools(spec)  # a step on a work pool needs that pool's deployment: say so before a run

    data = spec.model_dump(mode="json", exclude_none=True)
    with _client() as client:
        flow_run = client.create_flow_run(
            flow=mission,
            name=f"{spec.name}-{secrets.token_hex(3)}",
            parameters={"spec": data, "params": params, "auto_approve": auto_approve},
            state=Pending(),
            tags=[MISSION_TAG, f"mission:{spec.name}"],
        )
    if spec.checked:
        _validated[flow_run.id] = (data, spec)
    return flow_run


_validated: dict[UUID, tuple[dict[str, Any], MissionSpec]] = {}


def validated_spec(flow_run_id: UUID, data: Any) -> MissionSpec:
    """The run's spec parameter validated: by ``start`` in this process when it is the very spec
    ``start`` validated (a chain of 40 is validated in ~10 ms), else here and now."""
    from autoagent.spec import validate_data

    known = _validated.pop(flow_run_id, None)
    if known is not None and known[0] == data:
        return known[1]
    return validate_data(data)


def inline_spec(flow_run: FlowRun, path: str) -> dict[str, Any]:
    """Load a spec file named by a run's ``spec`` parameter and put the spec itself in the run's
    parameters, so status, resume and any other machine see the mission without the file."""
    from autoagent.spec import load

    spec = load(path).model_dump(mode="json", exclude_none=True)
    parameters = {**flow_run.parameters, "spec": spec}
    with _client() as client:
        client.update_flow_run(flow_run.id, parameters=parameters)
    flow_run.parameters = parameters
    return spec


def execute(flow_run: FlowRun) -> State:
    """Run (or re-run) the flow run in this process; returns its final state.

    The engine's own heartbeat is switched off for this run and ``heartbeat`` sends the same event
    instead (see autoagent.heartbeat for why).
    """
    from prefect.flow_engine import run_flow

    from autoagent.heartbeat import heartbeat
    from flows.report import wait_for_reports

    every = heartbeat_seconds()
    if "spec" in (flow_run.parameters or {}):
        flow = _spec_mission()
    else:
        from autoagent.code.missions import load_for_resume

        flow = load_for_resume(flow_run)
    held = IN_PROCESS.set(True)
    try:
        with (
            _engine_heartbeat_off(),
            heartbeat(flow_run, every, on_start=lambda: mark_alive(str(flow_run.id))),
        ):
            return run_flow(
                flow, flow_run=flow_run, parameters=flow_run.parameters, return_type="state"
            )
    finally:
        IN_PROCESS.reset(held)
        wait_for_reports()


_flows: dict[int, Any] = {}


def _spec_mission() -> Any:
    """The spec runner flow persisting to this server's results block, built once per block."""
    from blocks.storage import result_storage
    from flows.mission import mission

    storage = result_storage()
    if id(storage) not in _flows:
        _flows[id(storage)] = mission.with_options(result_storage=storage)
    return _flows[id(storage)]


_quiet_settings: dict[int, tuple[Any, Any]] = {}


@contextlib.contextmanager
def _engine_heartbeat_off() -> Iterator[None]:
    """The current settings with the engine's heartbeat off (``temporary_settings`` rebuilds
    every setting, ~0.1 s; the copy is made once per settings object)."""
    from prefect.context import SettingsContext, get_settings_context
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

    context = get_settings_context()
    if context.settings.flows.heartbeat_frequency is None:
        yield
        return
    made = _quiet_settings.get(id(context.settings))
    if made is None or made[0] is not context.settings:
        quiet = context.settings.copy_with_update(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
        made = _quiet_settings[id(context.settings)] = (context.settings, quiet)
    with SettingsContext(profile=context.profile, settings=made[1]):
        yield


def alive_reason(flow_run: FlowRun) -> str | None:
    """Why the run must be considered alive, or None when it is provably dead.

    The process is the one the run recorded, else the one its last heartbeat names (a process
    killed before its record reached the server); on this machine it is asked directly."""
    local = _local_process(flow_run.infrastructure_pid or "")
    if local is not None:
        return local or None
    beat = last_heartbeat(flow_run.id)
    if beat is None:
        return None
    occurred, process = beat
    local = _local_process(process)
    if local is not None:
        return local or None
    age = (datetime.now(UTC) - occurred).total_seconds()
    if age < 3 * heartbeat_seconds():
        host = (process or flow_run.infrastructure_pid or "").rpartition(":")[0]
        return f"its last heartbeat was {age:.0f}s ago (from {host or 'another machine'})"
    return None


def heartbeat_seconds() -> int:
    return get_current_settings().flows.heartbeat_frequency or get_settings().heartbeat_seconds


def _local_process(process: str) -> str | None:
    """For a "host:pid" of this machine: why it is alive, or "" when it is dead; else None."""
    host, _, pid_text = process.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if pid != os.getpid() and processes.alive(pid):
        return f"its process {pid} on this machine is still running"
    return ""


def last_heartbeat(flow_run_id: UUID) -> tuple[datetime, str] | None:
    """When the run's newest heartbeat occurred and the process it names ("" if none)."""
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )

    since = datetime.now(UTC) - timedelta(seconds=6 * heartbeat_seconds())
    event_filter = EventFilter(
        occurred=EventOccurredFilter(since=since),
        event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
        resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
    )
    try:
        with _client() as client:
            page = client.read_events(filter=event_filter, limit=50)
    except Exception:
        return None
    if not page.events:
        return None
    newest = max(page.events, key=lambda e: e.occurred)
    return newest.occurred, newest.resource.get(PROCESS_LABEL, "")


def check_resumable(flow_run: FlowRun) -> None:
    state = flow_run.state
    if state is not None and state.is_completed():
        raise RunError(f"run {flow_run.id} already completed: nothing to resume")
    reason = alive_reason(flow_run)
    if reason:
        raise RunError(
            f"run {flow_run.id} is still alive: {reason}. Wait for it, or cancel it with"
            f" `autoagent cancel {flow_run.id}`"
        )


def prepare_resume(run_id: str) -> FlowRun:
    """Prove the run is dead and put it back in a state the engine can run again."""
    flow_run = read_run(run_id)
    check_resumable(flow_run)
    for path in processes.reap(str(flow_run.id)):
        logger.warning("ended the process group step %r left running when its run died", path)
    with _client() as client:
        client.set_flow_run_state(flow_run.id, Pending(message="resumed by autoagent"), force=True)
        return client.read_flow_run(flow_run.id)


def cancel(run_id: str, grace: float = 15.0) -> FlowRun:
    """Stop a run that has not finished: its process on this machine gets SIGTERM (SIGKILL after
    ``grace``), its shell steps' process groups are ended, then the run is marked Cancelled (after
    the process is gone, so a dying engine cannot overwrite it with Crashed)."""
    import signal

    flow_run = read_run(run_id)
    if flow_run.state is not None and flow_run.state.is_final():
        raise RunError(f"run {run_id} already ended ({flow_run.state.name}): nothing to cancel")
    host, _, pid_text = (flow_run.infrastructure_pid or "").rpartition(":")
    if host == socket.gethostname() and pid_text.isdigit() and int(pid_text) != os.getpid():
        pid = int(pid_text)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while processes.alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if processes.alive(pid):
                os.kill(pid, signal.SIGKILL)
    processes.reap(str(flow_run.id))
    with _client() as client:
        client.set_flow_run_state(
            flow_run.id, Cancelled(message="cancelled by autoagent"), force=True
        )
    return read_run(run_id)


def wait_for_records(root: UUID, task_run_ids: set[UUID], deadline_seconds: float) -> bool:
    """Wait until the server holds a final state for every task run this process finished.

    The local server records task states from events asynchronously and forgets those still
    queued when the process exits; `autoagent status` right after `run` must see them all.
    """
    from concurrent.futures import ThreadPoolExecutor

    from prefect.events.worker import EventsWorker

    # drain_all only hands back a coroutine where an event loop runs (Playwright's sync API
    # leaves one in the caller's thread): drain from a thread that has none.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(EventsWorker.drain_all, timeout=deadline_seconds, at_exit=False).result()
    end = time.monotonic() + deadline_seconds
    with open_reader() as reader:
        while True:
            flow_ids = [r.id for r in reader.descendants(root)]
            tasks = reader.task_runs(flow_ids)
            seen = {t.id for t in tasks if t.state is not None and t.state.is_final()}
            missing = task_run_ids - seen
            if not missing or time.monotonic() > end:
                return not missing
            time.sleep(0.1)


def _api() -> str:
    return str(get_current_settings().api.url or "the local server")
