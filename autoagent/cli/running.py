"""The commands that run or change missions (``run``, ``resume``, ``approve``, ``signal``,
``cancel``): they import Prefect, after ``output.connect`` has put its settings in place."""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import FlowRun

from autoagent.api import answers, runs
from autoagent.cli.output import EXIT_FAILED, err, out, ui_url
from autoagent.cli.render import progress_printer
from autoagent.cli.showing import print_status
from autoagent.server.client import read_run, session
from autoagent.server.liveness import alive_reason
from autoagent.spec import MissionSpec


def run(
    spec: MissionSpec, params: dict[str, Any], auto_approve: bool, api: str, tags: list[str]
) -> int:
    """Create the run, drive it here to its end, show how it went."""
    with session():
        flow_run = runs.create(spec, params, auto_approve=auto_approve, tags=tags)
        out.print(f"mission {spec.name!r} run {flow_run.id}", markup=False)
        out.print(f"  {ui_url(api)}/runs/flow-run/{flow_run.id}", markup=False, style="dim")
        return _execute_and_report(flow_run, spec)


def resume(run_id: str, allow_changed_code: bool = False) -> int:
    with session():
        flow_run = runs.prepare_resume(
            run_id,
            allow_changed_code,
            warn=lambda said: err.print(f"warning: {said}", markup=False, soft_wrap=True),
        )
        out.print(f"resuming run {flow_run.id}", markup=False)
        return _execute_and_report(flow_run, None)


def _execute_and_report(flow_run: FlowRun, spec: MissionSpec | None) -> int:
    printer = progress_printer(out, str(flow_run.id))
    finished = runs.execute(flow_run, spec=spec, listeners=[printer])
    if not runs.recorded(finished):
        err.print("warning: the server has not recorded every step yet; status may lag")
    print_status(finished.run_id)
    if finished.ok:
        return 0
    state = finished.state
    message = " ".join((state.message or "").split())
    err.print(f"mission did not complete: {state.name}: {message}", markup=False, soft_wrap=True)
    return EXIT_FAILED


def approve(run_id: str, step: str | None, reject: bool, comment: str, fields: dict) -> int:
    answers.approve(run_id, step, approved=not reject, comment=comment, fields=fields)
    verdict = "rejected" if reject else "approved"
    out.print(f"{verdict}: {_continues(run_id)}", markup=False)
    return 0


def signal(run_id: str, key: str, payload: Any) -> int:
    answers.signal(run_id, key, payload)
    out.print(f"signal {key!r} delivered: {_continues(run_id)}", markup=False)
    return 0


def cancel(run_id: str) -> int:
    flow_run = runs.cancel(run_id)
    out.print(f"run {flow_run.id} {flow_run.state.name if flow_run.state else 'cancelled'}")
    return 0


def _continues(run_id: str) -> str:
    """Whether the run will take the answer by itself, or needs `resume` (its process died)."""
    flow_run = read_run(run_id)
    if flow_run.state is not None and flow_run.state.is_final():
        return f"run {run_id} has ended ({flow_run.state.name})"
    if flow_run.deployment_id is not None and flow_run.state and flow_run.state.is_scheduled():
        return f"run {run_id} is rescheduled on its deployment and continues there"
    if alive_reason(flow_run) is None:
        return (
            f"run {run_id} keeps it, but its process is gone: continue it with"
            f" `autoagent resume {run_id}`"
        )
    return f"run {run_id} continues"
