"""``autoagent server metrics``: the Prometheus exporter. It reads the server's events over the
REST API every few seconds, in the order they occurred, and counts them (metrics.py); the
gauges are read from the open mission runs at the same pace. Any number of API servers may stand
behind the URL: the events are in the database they share.

Events reach the database a few seconds after they occurred (the services write them in batches;
a step's state event carries the step's own clock), so each read looks back OVERLAP seconds and
skips the events it counted already. An event that arrives later than that is not counted.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prometheus_client import start_http_server

from autoagent.server.finding import OPEN, RunQuery, find
from autoagent.server.metrics import EVENT_NAMES, Metrics, RunInfo
from autoagent.server.reader import Reader, open_reader

logger = logging.getLogger("autoagent.exporter")

OVERLAP = 60.0
"""Seconds each read looks back for events that reached the database late."""
OPEN_RUNS_MAX = 2000
"""At most this many open missions are read for the gauges per poll."""
RUNS_CACHED = 10_000


class Exporter:
    """Counts the server's events since ``start`` into ``metrics``."""

    def __init__(self, metrics: Metrics, start: datetime | None = None) -> None:
        self.metrics = metrics
        self.cursor = start or datetime.now(UTC)
        self._counted: dict[str, datetime] = {}
        self._runs: OrderedDict[str, RunInfo] = OrderedDict()

    def poll(self, reader: Reader) -> int:
        """Count the events that occurred since the last poll; set the gauges. How many events
        were new."""
        now = datetime.now(UTC)
        since = self.cursor - timedelta(seconds=OVERLAP)
        query = {
            "occurred": {"since": since.isoformat(), "until": now.isoformat()},
            "event": {"name": list(EVENT_NAMES)},
            "order": "ASC",
        }
        new = 0
        for event in reader.events(query):
            if event["id"] in self._counted:
                continue
            self._counted[event["id"]] = datetime.fromisoformat(event["occurred"])
            self.metrics.observe(event, lambda run_id: self._run_info(reader, run_id))
            new += 1
        self.cursor = now
        self._counted = {k: v for k, v in self._counted.items() if v >= since}
        found = find(reader, RunQuery(states=OPEN, limit=OPEN_RUNS_MAX))
        self.metrics.stand([(f.run, f.waiting) for f in found])
        self.metrics.polled.set(time.time())
        return new

    def _run_info(self, reader: Reader, run_id: str) -> RunInfo | None:
        """A flow run's RunInfo, read once it is known as a mission (its tags come at start)."""
        if run_id in self._runs:
            self._runs.move_to_end(run_id)
            return self._runs[run_id]
        try:
            info = RunInfo(reader.flow_run(UUID(run_id)))
        except Exception:
            logger.debug("flow run %s not read", run_id, exc_info=True)
            return None
        if info.mission != "?":
            self._runs[run_id] = info
            while len(self._runs) > RUNS_CACHED:
                self._runs.popitem(last=False)
        return info


def serve(
    host: str,
    port: int,
    every: float,
    reader: Callable[[], Any] = open_reader,
    polls: int | None = None,
) -> None:
    """Serve /metrics on ``host:port`` and poll the server every ``every`` seconds (``polls``
    times, or until interrupted). A poll that fails is logged and tried again next time."""
    metrics = Metrics()
    exporter = Exporter(metrics)
    start_http_server(port, addr=host, registry=metrics.registry)
    done = 0
    while polls is None or done < polls:
        began = time.monotonic()
        try:
            with reader() as opened:
                exporter.poll(opened)
        except Exception as exc:
            logger.warning("could not read the server's events: %s", exc)
        done += 1
        time.sleep(max(0.0, every - (time.monotonic() - began)))
