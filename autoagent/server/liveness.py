"""Whether a mission run's process is alive: heartbeats that say so, and the proof it is dead.

Prefect's engine emits ``prefect.flow-run.heartbeat`` from a thread that sleeps in 1 s slices and
is joined when the flow ends, so every sync flow and subflow ends up to a second late. AutoAgent
runs its missions with the engine's heartbeat off and emits the same event itself from a thread
that wakes on an Event: crash detection (automations, ``autoagent resume``) sees the same signal,
and a mission ends when its work ends. Each beat names its process ("host:pid"), and the run
records that process too, so ``alive_reason`` can ask the OS on this machine, or judge by the
age of the last beat from another one.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect import __version__ as prefect_version
from prefect.client.schemas.objects import FlowRun, State
from prefect.events import Event
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)
from prefect.events.related import tags_as_related_resources
from prefect.events.schemas.events import RelatedResource, Resource
from prefect.exceptions import Pause
from prefect.settings import get_current_settings

from autoagent import processes
from autoagent.server.client import client
from autoagent.server.connection import access
from autoagent.server.fencing import RENEW_TIMEOUT, Lease, Reading, holding
from autoagent.server.reader import Reader, open_reader
from autoagent.settings import get_settings

logger = logging.getLogger("autoagent.heartbeat")
EVENT = "prefect.flow-run.heartbeat"
RELEASED = "autoagent.flow-run.released"
"""A process's last word on a run it leaves waiting (suspended, or rescheduled for a timer):
crash detection expects it, so the beats that process sent while it finished its steps after the
run's state changed do not get the run marked Crashed once the process is gone."""
RELEASE_PATIENCE = 10.0
"""Seconds the release is tried again while the API fails: the process waits that long to exit."""
DETECTION = "autoagent: crash detection"
"""The automation that marks a silent run Crashed (`autoagent server setup`): its silence bounds
every process's lease."""
PROCESS_LABEL = "autoagent.process"
"""Resource label of a heartbeat naming the process that sent it ("host:pid"): a process killed
before its flow run recorded ``infrastructure_pid`` can still be proven dead by its last beat."""
LEASE_THREADS = ("autoagent-heartbeat", "autoagent-lease-watch")
"""Names of the two threads that keep a lease: none outlives the run it was taken for."""


def host_pid() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _template(flow_run: FlowRun, flow_name: str) -> tuple[dict[str, str], list[RelatedResource]]:
    resource = {
        "prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
        "prefect.resource.name": flow_run.name or "",
        "prefect.version": prefect_version,
        PROCESS_LABEL: host_pid(),
    }
    related = [
        RelatedResource.model_validate(
            {
                "prefect.resource.id": f"prefect.flow.{flow_run.flow_id}",
                "prefect.resource.role": "flow",
                "prefect.resource.name": flow_name,
            }
        )
    ]
    if flow_run.deployment_id:
        related.append(
            RelatedResource.model_validate(
                {
                    "prefect.resource.id": f"prefect.deployment.{flow_run.deployment_id}",
                    "prefect.resource.role": "deployment",
                }
            )
        )
    related += tags_as_related_resources(set(flow_run.tags or []))
    return resource, related


@contextlib.contextmanager
def heartbeat(
    flow_run: FlowRun,
    every: float,
    flow_name: str = "mission",
    on_start: Callable[[], None] | None = None,
    deployed: bool = False,
    armed: bool = False,
    linger: bool = False,
) -> Iterator[Lease]:
    """Send a heartbeat now and every ``every`` seconds until the block exits, each one
    acknowledged by the server and followed by a read of the run: the block holds the run's
    lease (fencing.py), which its steps hold before they start and before their results count.

    ``on_start`` runs in the heartbeat thread after the first beat, off the mission's critical path
    (AutoAgent records the process that runs the mission there). Each beat names its process.
    ``deployed``: the process was started by a worker (a fenced one exits 0, see fencing.py).
    ``armed``: the run is Running for this process already (else ``Lease.arm`` says when).
    ``linger``: the block is the flow's body; beats and the lease outlive it until the server
    holds the run's final state (the engine proposes it after the body).
    """
    stop = threading.Event()
    resource, related = _template(flow_run, flow_name)
    run_id = flow_run.id
    reader = Reader(access(), timeout=RENEW_TIMEOUT)
    lease = Lease(
        str(run_id),
        host_pid(),
        3 * heartbeat_seconds(),
        lambda: _beat(reader, run_id, resource, related),
        deployed=deployed,
        armed=armed,
        engine_state=engine_state(flow_run) if armed else lambda: None,
    )

    def beat() -> None:
        lease.confirm()
        if on_start is not None:
            try:
                on_start()
            except Exception:
                logger.warning("could not record the mission's process", exc_info=True)
        silence = detection_silence()
        if silence is not None:
            lease.narrow(silence)
        period = min(every, max(1.0, lease.term / 2))
        due = time.monotonic() + period
        while not lease.settled() and not stop.wait(1.0):  # a closing lease beats each second
            if lease.closing or time.monotonic() >= due:
                lease.confirm()
                due = time.monotonic() + period

    def watch() -> None:
        """Apart from the beats, which may hang on a dead network: end the process once its
        lease is past saving (fencing.py). It looks every second: the lease may shrink."""
        while not lease.settled() and not stop.wait(1.0):
            if lease.expired():
                lease.expire()

    for work, name in ((beat, LEASE_THREADS[0]), (watch, LEASE_THREADS[1])):
        thread = threading.Thread(
            target=contextvars.copy_context().run, args=(work,), daemon=True, name=name
        )
        thread.start()
    try:
        with holding(lease):
            yield lease
    except Pause:  # the run waits (its state is on the server) and this process leaves it
        lease.release(lambda: _announce_release(resource, related))
        raise
    finally:
        if linger and lease.armed and not lease.done:
            lease.closing = True  # its threads end once the final state is on the server
        else:
            stop.set()
            reader.close()


def engine_state(flow_run: FlowRun) -> Callable[[], State | None]:
    """The state the engine last set on ``flow_run``, the engine's own object (the flow run of a
    FlowRunContext), which it updates at each transition the server accepted."""
    return lambda: flow_run.state


def _beat(
    reader: Reader, run_id: UUID, resource: dict[str, str], related: list[RelatedResource]
) -> Reading:
    """One heartbeat the server acknowledged (POST /events, not the fire-and-forget socket),
    then the run as the server holds it after that beat."""
    sent = time.monotonic()
    event = Event(event=EVENT, resource=Resource(resource), related=related)
    reader.post_events([event.model_dump(mode="json")])
    return Reading(sent, reader.flow_run(run_id))


def _announce_release(resource: dict[str, str], related: list[RelatedResource]) -> None:
    event = Event(event=RELEASED, resource=Resource(resource), related=related)
    try:
        with open_reader(patience=RELEASE_PATIENCE) as reader:
            reader.post_events([event.model_dump(mode="json")])
    except Exception as exc:  # crash detection will resume the run: it waits again
        run = resource["prefect.resource.id"]
        logger.warning("could not tell the server this process left %s: %s", run, exc)


def detection_silence() -> float | None:
    """The silence after which crash detection marks a run Crashed, as `autoagent server setup`
    installed it on this server; None when it is not installed (or cannot be read)."""
    try:
        with client() as prefect:
            found = prefect.read_automations_by_name(DETECTION)
    except Exception:
        return None
    withins = [a.trigger.within.total_seconds() for a in found if hasattr(a.trigger, "within")]
    return min(withins) if withins else None


def heartbeat_seconds() -> int:
    return get_current_settings().flows.heartbeat_frequency or get_settings().heartbeat_seconds


def mark_alive(run_id: str) -> None:
    """Record which process runs the mission, so resume can tell a live run from a dead one."""
    with client() as prefect:
        prefect.update_flow_run(UUID(run_id), infrastructure_pid=host_pid())


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
    since = datetime.now(UTC) - timedelta(seconds=6 * heartbeat_seconds())
    event_filter = EventFilter(
        occurred=EventOccurredFilter(since=since),
        event=EventNameFilter(name=[EVENT]),
        resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
    )
    try:
        with client() as prefect:
            page = prefect.read_events(filter=event_filter, limit=50)
    except Exception:
        return None
    if not page.events:
        return None
    newest = max(page.events, key=lambda e: e.occurred)
    return newest.occurred, newest.resource.get(PROCESS_LABEL, "")
