"""The flow behind ``runs_on``: one step of a mission, run on the work pool it names.

Deployed once per pool as ``remote-step/<pool>`` (prefect.yaml); the parent mission starts it
with run_deployment and reads what it recorded (engine/remote.py).
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.context import FlowRunContext
from prefect.utilities.annotations import quote

from autoagent.engine import remote
from autoagent.engine.driving import heartbeat_unless_driven
from autoagent.engine.step import StepCall, run_step_here
from autoagent.errors import StepError


@flow(name=remote.FLOW, persist_result=False, validate_parameters=False, log_prints=True)
def remote_step(
    mission: str,
    root_run_id: str,
    path: str,
    agent: str,
    input: Any = None,
    timeout: float | None = None,
    concurrency: str | None = None,
    attempt: int = 1,
) -> Any:
    """Run the agent of step ``path`` of mission run ``root_run_id`` here, once. It heartbeats
    like a mission (it carries the mission tag, so crash detection judges it from its start)."""
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    with heartbeat_unless_driven(context.flow_run, remote.FLOW):
        call = StepCall(
            mission=mission,
            root_run_id=root_run_id,
            path=path,
            agent=agent,
            input=input,
            timeout=timeout,
            concurrency=concurrency,
            attempt=attempt,
            process_run_id=str(context.flow_run.id),
        )
        state = run_step_here(call=quote(call), return_state=True)
    if state.is_completed():
        output = state.result()
        remote.record(context.flow_run.id, {"output": output})
        return output
    try:
        state.result()
    except StepError as exc:
        remote.record(
            context.flow_run.id, {"error": str(exc), "kind": exc.kind, "retryable": exc.retryable}
        )
        raise
    except Exception as exc:
        remote.record(context.flow_run.id, {"error": f"{type(exc).__name__}: {exc}"})
        raise
    raise StepError(f"the step ended {state.name}", kind="error")
