"""Capped automatic resume of crashed deployed runs, started by an automation (automations.py).

A deployed run marked Crashed (its process died; the crash-detection automation saw no heartbeat)
is put back on its deployment on the same flow run id, after a backoff that doubles with each
crash; its completed steps are then read from their persisted results. A run that keeps crashing
ends Failed with the reason once it has crashed more than ``max_resumes`` times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect import flow
from prefect.client.schemas.objects import StateType
from prefect.states import Failed, Scheduled

from autoagent.server.client import client


@flow(name="recover", persist_result=False, log_prints=True)
def recover(
    flow_run_id: str, max_resumes: int = 3, base_seconds: float = 10.0, factor: float = 2.0
) -> str:
    """Resume the crashed run ``flow_run_id`` on its deployment, or fail it past the cap."""
    with client() as prefect:
        run = prefect.read_flow_run(UUID(flow_run_id))
        if run.state is None or run.state.type != StateType.CRASHED:
            return f"nothing to do: the run is {run.state.name if run.state else 'unknown'}"
        if run.deployment_id is None:
            return "nothing to do: not a deployed run (resume it with `autoagent resume`)"
        crashes = sum(
            1 for s in prefect.read_flow_run_states(run.id) if s.type == StateType.CRASHED
        )
        reason = run.state.message or "crashed"
        if crashes > max_resumes:
            message = (
                f"crashed {crashes} times; gave up after {max_resumes} automatic resumes"
                f" (last: {reason})"
            )
            prefect.set_flow_run_state(run.id, Failed(message=message), force=True)
            return message
        delay = base_seconds * factor ** (crashes - 1)
        state = Scheduled(
            scheduled_time=datetime.now(UTC) + timedelta(seconds=delay),
            name="AwaitingRecovery",
            message=f"automatic resume {crashes} of {max_resumes} in {delay:g}s after: {reason}",
        )
        result = prefect.set_flow_run_state(run.id, state)
        return f"{result.status.value}: {state.message}"
