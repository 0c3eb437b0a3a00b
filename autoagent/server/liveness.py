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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect import __version__ as prefect_version
from prefect.client.schemas.objects import FlowRun
from prefect.events import emit_event
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)
from prefect.events.related import tags_as_related_resources
from prefect.events.schemas.events import RelatedResource
from prefect.settings import get_current_settings

from autoagent import processes
from autoagent.server.client import client
from autoagent.settings import get_settings

logger = logging.getLogger("autoagent.heartbeat")
EVENT = "prefect.flow-run.heartbeat"
PROCESS_LABEL = "autoagent.process"
"""Resource label of a heartbeat naming the process that sent it ("host:pid"): a process killed
before its flow run recorded ``infrastructure_pid`` can still be proven dead by its last beat."""


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
) -> Iterator[None]:
    """Emit a heartbeat now and every ``every`` seconds until the block exits.

    ``on_start`` runs in the heartbeat thread after the first beat, off the mission's critical path
    (AutoAgent records the process that runs the mission there). Each beat names its process.
    """
    stop = threading.Event()
    resource, related = _template(flow_run, flow_name)

    def send() -> None:
        try:
            emit_event(event=EVENT, resource=resource, related=related)
        except Exception:
            logger.debug("heartbeat not sent", exc_info=True)

    def beat() -> None:
        send()
        if on_start is not None:
            try:
                on_start()
            except Exception:
                logger.warning("could not record the mission's process", exc_info=True)
        while not stop.wait(every):
            send()

    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(beat,), daemon=True, name="heartbeat"
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()


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
