"""Flow-run heartbeats that stop at once.

Prefect's engine emits ``prefect.flow-run.heartbeat`` from a thread that sleeps in 1 s slices and
is joined when the flow ends, so every sync flow and subflow ends up to a second late. AutoAgent
runs its missions with the engine's heartbeat off and emits the same event itself from a thread
that wakes on an Event: crash detection (automations, ``autoagent resume``) sees the same signal,
and a mission ends when its work ends.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator

from prefect import __version__ as prefect_version
from prefect.client.schemas.objects import FlowRun
from prefect.events import emit_event
from prefect.events.related import tags_as_related_resources
from prefect.events.schemas.events import RelatedResource

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


@contextlib.contextmanager
def unless_on(
    flow_run: FlowRun, flow_name: str, on_start: Callable[[], None] | None = None
) -> Iterator[None]:
    """Heartbeat for ``flow_run`` unless something already does: the engine (when
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY is set) or ``autoagent run``/``resume`` in this process. A
    mission on a worker started without heartbeats still tells crash detection it is alive."""
    from prefect.settings import get_current_settings

    from autoagent import runs

    if get_current_settings().flows.heartbeat_frequency or runs.IN_PROCESS.get():
        yield
        return
    with heartbeat(flow_run, runs.heartbeat_seconds(), flow_name=flow_name, on_start=on_start):
        yield
