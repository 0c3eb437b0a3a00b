"""Waiting for the server to hold what a process did: Prefect records task runs from events,
asynchronously, so a status or a report read right after a run may miss its last steps."""

from __future__ import annotations

import threading
import time
from uuid import UUID

from prefect.events.worker import EventsWorker

from autoagent.server.reader import open_reader

POLL_FIRST = 0.05
POLL_LONGEST = 1.0
PAGE_IDS = 1000
"""Task runs asked about per poll (a request's size stays bounded; the rest come next poll)."""


def wait_for_records(root: UUID, task_run_ids: set[UUID], deadline_seconds: float) -> bool:
    """Wait until the server holds a final state for every task run this process finished.

    The local server records task states from events asynchronously and forgets those still
    queued when the process exits; `autoagent status` right after `run` must see them all.
    """
    flush_events(deadline_seconds)
    end = time.monotonic() + deadline_seconds
    missing = set(task_run_ids)
    pause = POLL_FIRST
    with open_reader() as reader:
        flow_ids = [r.id for r in reader.descendants(root)]
        while True:  # only what is still missing, less often the longer it takes: many
            # processes waiting at once must not keep a busy server busier
            tasks = reader.task_runs(flow_ids, only=sorted(missing)[:PAGE_IDS])
            missing -= {t.id for t in tasks if t.state is not None and t.state.is_final()}
            if not missing or time.monotonic() > end:
                return not missing
            time.sleep(pause)
            pause = min(pause * 2, POLL_LONGEST)


def flush_events(deadline_seconds: float) -> bool:
    """Wait (at most ``deadline_seconds``) until this process's events worker has sent every
    event queued so far; False if it has not.

    The worker keeps running: Prefect's ``drain_all`` would stop it, and the next event would
    start another, each stopped one kept alive with its connection by the interpreter's exit
    hooks (Prefect registers one per worker): a process running mission after mission grew by
    ~6 MiB a mission. The wait runs in a daemon thread (the queue's ``join`` has no timeout).
    """
    worker = EventsWorker.instance()
    waiter = threading.Thread(target=worker.wait_until_empty, name="flush-events", daemon=True)
    waiter.start()
    waiter.join(deadline_seconds)
    return not waiter.is_alive()
