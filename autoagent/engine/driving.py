"""Who drives a mission run: this process, to its end, or a runner or worker of its deployment.

``autoagent run`` and ``resume``, ``run_spec`` and the notebook's ``start`` drive a run here
(``driving``): its waits hold this process, this process heartbeats for it, and the caller reads
what the run did from the ``LocalRun``'s journal. A run started from its deployment by a runner
or worker is driven by no one here: its waits suspend it (the process exits) and its flow
heartbeats for itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID

from prefect.client.schemas.objects import FlowRun
from prefect.settings import get_current_settings

from autoagent.engine.journal import Journal
from autoagent.server.liveness import heartbeat, heartbeat_seconds
from autoagent.spec import MissionSpec


@dataclass(frozen=True)
class LocalRun:
    """A mission run this process drives to its end."""

    flow_run_id: UUID
    journal: Journal
    spec: MissionSpec | None = None
    """The spec the caller validated and checked, so the flow need not do it again."""


logger = logging.getLogger("autoagent.driving")

_current: ContextVar[LocalRun | None] = ContextVar("autoagent_local_run", default=None)


@contextlib.contextmanager
def driving(run: LocalRun) -> Iterator[LocalRun]:
    token = _current.set(run)
    try:
        yield run
    finally:
        _current.reset(token)


def local_run() -> LocalRun | None:
    """The run this process drives, when the current code runs inside it."""
    return _current.get()


@contextlib.contextmanager
def heartbeat_unless_driven(
    flow_run: FlowRun, flow_name: str, on_start: Callable[[], None] | None = None
) -> Iterator[None]:
    """Heartbeat for ``flow_run`` unless something already does: the engine (when
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY is set) or the driver in this process. A mission on a
    worker started without heartbeats still tells crash detection it is alive. ``on_start``
    (recording the process) runs either way, unless a driver did it: the engine's heartbeats
    name no process, and without the record ``resume`` would take a killed run's last beat for
    a live process elsewhere."""
    if local_run() is not None:
        yield
        return
    if get_current_settings().flows.heartbeat_frequency:
        if on_start is not None:
            threading.Thread(
                target=contextvars.copy_context().run,
                args=(_logged(on_start),),
                daemon=True,
                name="record-process",
            ).start()
        yield
        return
    with heartbeat(flow_run, heartbeat_seconds(), flow_name=flow_name, on_start=on_start):
        yield


def _logged(work: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            work()
        except Exception:
            logger.warning("could not record the mission's process", exc_info=True)

    return run
