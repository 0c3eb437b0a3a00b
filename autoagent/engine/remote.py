"""Steps that run on another work pool (``runs_on: <pool>``), as a child deployment run.

The parent's step task starts the deployment ``remote-step/<pool>`` (remote_flow.py) and waits
for it; the child runs the agent on that pool's infrastructure (a process, a Docker container)
and stores the agent's output, or its error, as a flow run input of its own run, so nothing has
to share a disk with the parent. The child run's idempotency key is the step's cache key plus the
attempt: a resumed parent finds the child it started before the crash instead of starting a second
one, and a retry starts a fresh child. Retries stay in one layer, the parent's step policy.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect.deployments import run_deployment

from autoagent.errors import Problem, SpecError, StepError
from autoagent.server import inputs
from autoagent.server.client import client
from autoagent.spec import MissionSpec

FLOW = "remote-step"
POLL_SECONDS = 1.0


def deployment_name(pool: str) -> str:
    """Each pool that takes steps has one deployment of the remote-step flow, named after it."""
    return f"{FLOW}/{pool}"


def check_pools(spec: MissionSpec) -> None:
    """Every pool a step runs on has its deployment on this server: checked before anything runs."""
    pools = {step.runs_on for _, step in spec.walk() if step.runs_on is not None}
    if not pools:
        return
    missing: set[str] = set()
    with client() as prefect:
        for pool in pools:
            try:
                prefect.read_deployment_by_name(deployment_name(pool))
            except Exception:
                missing.add(pool)
    problems = [
        Problem(
            spec.name,
            step.id,
            "runs_on",
            f"no deployment {deployment_name(step.runs_on)!r} on this server: deploy it"
            " (prefect deploy, see prefect.yaml) and run a worker for the pool",
        )
        for _, step in spec.walk()
        if step.runs_on in missing
    ]
    if problems:
        raise SpecError(problems)


def run_on(pool: str, *, cache_key: str, attempt: int, parameters: dict[str, Any]) -> Any:
    """Run one step as a child run on ``pool``; its output, or a StepError with its kind."""
    child = run_deployment(
        deployment_name(pool),
        parameters=parameters,
        idempotency_key=f"{cache_key}/attempt-{attempt}",
        flow_run_name=f"{parameters['path']} on {pool}",
        timeout=None,
        poll_interval=POLL_SECONDS,
        as_subflow=True,
    )
    state = child.state
    stored = inputs.read_input(child.id, inputs.OUTPUT_KEY)
    if state is not None and state.is_completed() and stored and "output" in stored:
        return stored["output"]
    where = f"on {pool} (run {child.id})"
    if stored and "error" in stored:
        raise StepError(
            f"{stored['error']} {where}",
            kind=stored.get("kind", "error"),
            retryable=stored.get("retryable", True),
        )
    name = state.name if state is not None else "unknown"
    message = (state.message or "").strip() if state is not None else ""
    kind = "cancelled" if state is not None and state.is_cancelled() else "crashed"
    raise StepError(
        f"the step's run {where} ended {name}: {message}".rstrip(": "),
        kind=kind,
        retryable=kind != "cancelled",
    )


def record(flow_run_id: UUID, outcome: dict[str, Any]) -> None:
    """The child's side: store the output (or the error) once; a resumed child keeps the first."""
    inputs.write_input(flow_run_id, inputs.OUTPUT_KEY, outcome)
