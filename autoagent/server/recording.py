"""Waiting for the server to hold what a process did: Prefect records task runs from events,
asynchronously, so a status or a report read right after a run may miss its last steps."""

from __future__ import annotations

import threading
import time
from uuid import UUID

from prefect.events.worker import EventsWorker

from autoagent.server.reader import open_reader


def wait_for_records(root: UUID, task_run_ids: set[UUID], deadline_seconds: float) -> bool:
    """Wait until the server holds a final state for every task run this process finished.

    The local server records task states from events asynchronously and forgets those still
    queued when the process exits; `autoagent status` right after `run` must see them all.
    """
    flush_events(deadline_seconds)
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
