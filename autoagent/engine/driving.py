"""Who drives a mission run: this process, to its end, or a runner or worker of its deployment.

``autoagent run`` and ``resume``, ``run_spec`` and the notebook's ``start`` drive a run here
(``driving``): its waits hold this process, this process heartbeats for it, and the caller reads
what the run did from the ``LocalRun``'s journal. A run started from its deployment by a runner
or worker is driven by no one here: its waits suspend it (the process exits) and its flow
heartbeats for itself.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID

from prefect.client.schemas.objects import FlowRun

from autoagent.engine.journal import Journal
from autoagent.server.fencing import current_lease
from autoagent.server.liveness import engine_state, heartbeat, heartbeat_seconds
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
    """Heartbeat for ``flow_run`` and hold its lease (server/fencing.py) unless the driver in
    this process does: then its lease, taken before the run entered Running, starts now. The
    engine's own heartbeat (PREFECT_FLOWS_HEARTBEAT_FREQUENCY) does not replace this one: its
    beats are not acknowledged, so they earn no lease. ``on_start`` (recording the process) runs
    after the first beat, unless a driver did it."""
    if local_run() is not None:
        lease = current_lease()
        if lease is not None:
            lease.arm(engine_state(flow_run))
        yield
        return
    deployed = flow_run.deployment_id is not None
    with heartbeat(
        flow_run, heartbeat_seconds(), flow_name, on_start, deployed, armed=True, linger=True
    ):
        yield
