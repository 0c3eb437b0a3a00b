"""Task-run records for steps a resume found done but the server never recorded.

The local server records task states asynchronously and loses those still queued when a process
is killed; a resume then finds such a step's persisted result and does not run it again, so
without a record here ``autoagent status`` would show a completed step as not run.
"""

from __future__ import annotations

import threading
from uuid import UUID

from prefect.context import FlowRunContext
from prefect.states import Completed

from tasks.step import run_step

_known: dict[str, set[str]] = {}
_lock = threading.Lock()


def _recorded_paths(root_run_id: str) -> set[str]:
    """Step paths with a completed task run anywhere under the root run (read once)."""
    from autoagent.runs import descendant_runs, task_runs

    with _lock:
        if root_run_id not in _known:
            flow_runs = [r.id for r in descendant_runs(UUID(root_run_id))]
            _known[root_run_id] = {
                t.name for t in task_runs(flow_runs) if t.state and t.state.is_completed()
            }
        return _known[root_run_id]


def ensure_recorded(root_run_id: str, paths: list[str]) -> None:
    """Create a Completed ("Cached") task run for each of ``paths`` the server does not hold."""
    missing = [p for p in paths if p not in _recorded_paths(root_run_id)]
    if not missing:
        return
    from autoagent.runs import _client

    context = FlowRunContext.get()
    flow_run_id = context.flow_run.id if context and context.flow_run else None
    with _client() as client:
        for path in missing:
            client.create_task_run(
                task=run_step,
                flow_run_id=flow_run_id,
                dynamic_key=f"{path}#recorded",
                name=path,
                state=Completed(name="Cached", message="done before the crash; not run again"),
            )
    with _lock:
        _known[root_run_id].update(missing)
