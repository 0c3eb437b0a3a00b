"""The commands on missions: validate, run, resume, status, list, approve, signal, cancel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from autoagent.cli.output import (
    EXIT_FAILED,
    check_run_id,
    connect,
    err,
    guard,
    out,
    parse_params,
    ui_url,
)
from autoagent.errors import AutoAgentError, SpecError


def validate(
    file: Path = typer.Argument(..., help="Mission spec, YAML or JSON."),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse the spec for warnings too (exit 2)."
    ),
) -> None:
    """Check a spec without running anything; every problem on its own line."""

    def action() -> int:
        from autoagent.spec import load

        spec = load(file, strict=strict)
        _warn(spec.warnings)
        count = len(spec.walk())
        n = len(spec.warnings)
        warned = f", {n} warning{'s' if n > 1 else ''}" if n else ""
        out.print(f"✓ mission {spec.name!r} is valid ({count} steps{warned})", markup=False)
        return 0

    guard(action)


def _warn(warnings: list[Any]) -> None:
    for warning in warnings:
        err.print(f"warning: {warning}", markup=False, soft_wrap=True)


def run(
    file: Path = typer.Argument(..., help="Mission spec, YAML or JSON."),
    param: list[str] = typer.Option([], "--param", "-p", help="KEY=VALUE, repeatable."),
    auto_approve: bool = typer.Option(
        False, "--auto-approve", help="Answer every approval with its defaults."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's own logs."),
) -> None:
    """Validate and run a mission here; exit 0 only if it completed."""

    def action() -> int:
        from autoagent.spec import load

        spec = load(file)
        _warn(spec.warnings)
        params = parse_params(param)
        unknown = sorted(set(params) - set(spec.params))
        if unknown:
            raise SpecError.for_params(spec.name, unknown, sorted(spec.params))
        api = connect(verbose)
        from autoagent import runs

        with runs.session():
            flow_run = runs.start(spec, params, auto_approve=auto_approve)
            out.print(f"mission {spec.name!r} run {flow_run.id}", markup=False)
            out.print(f"  {ui_url(api)}/runs/flow-run/{flow_run.id}", markup=False, style="dim")
            return _execute_and_report(flow_run)

    guard(action)


def resume(
    run_id: str = typer.Argument(..., metavar="RUN", help="The mission run id."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's own logs."),
) -> None:
    """Run a crashed or failed mission again on the same run id; completed steps are not re-run."""

    def action() -> int:
        check_run_id(run_id)
        connect(verbose)
        from autoagent import runs

        with runs.session():
            flow_run = runs.prepare_resume(run_id)
            out.print(f"resuming run {flow_run.id}", markup=False)
            return _execute_and_report(flow_run)

    guard(action)


def _execute_and_report(flow_run: Any) -> int:
    from autoagent import runs
    from autoagent.render import progress_printer
    from autoagent.settings import get_settings
    from flows import outcomes

    listener = progress_printer(out, str(flow_run.id))
    outcomes.listeners.append(listener)
    try:
        state = runs.execute(flow_run)
    finally:
        outcomes.listeners.remove(listener)
    finished = {
        o.prefect_state.state_details.task_run_id
        for o in outcomes.records.get(str(flow_run.id), {}).values()
        if o.prefect_state is not None and o.prefect_state.state_details.task_run_id
    }
    complete = runs.wait_for_records(flow_run.id, finished, get_settings().record_wait_seconds)
    if not complete:
        err.print("warning: the server has not recorded every step yet; status may lag")
    _print_status(str(flow_run.id))
    if state.is_completed():
        return 0
    message = " ".join((state.message or "").split())
    err.print(f"mission did not complete: {state.name}: {message}", markup=False, soft_wrap=True)
    return EXIT_FAILED


def _print_status(run_id: str) -> None:
    from autoagent import status
    from autoagent.reader import open_reader
    from autoagent.render import answer_lines, status_tree

    with open_reader() as reader:
        root = reader.root_run(run_id)
        spec = root.parameters.get("spec")
        if isinstance(spec, str):  # a deployment run names a file; it is inlined when it starts
            state = root.state.name if root.state else "unknown"
            out.print(f"run {root.id} ({root.name}) {state}: spec file {spec!r}, not started yet")
            return
        snapshot = status.read(reader, run_id)
        out.print(status_tree(snapshot.status))
        _print_lineage(reader, snapshot)
    lines = answer_lines(snapshot.status)
    if lines:
        out.print("to answer:", style="bold")
        for line in lines:
            out.print(f"  {line}", markup=False, soft_wrap=True)


def _print_lineage(reader: Any, snapshot: Any) -> None:
    """The assets the mission materializes and what each is built from (no OSS lineage view)."""
    from autoagent import assets
    from autoagent.spec import MissionSpec

    spec = snapshot.root.parameters.get("spec")
    planned = assets.planned_lineage(MissionSpec.model_validate(spec)) if spec else {}
    # a spec mission without asset steps records none: ask the server only when there may be some
    ids = [r.id for r in snapshot.flow_runs]
    found = assets.recorded(reader, ids) if planned or not spec else []
    if planned or found:
        out.print("assets (lineage):", style="bold")
        for line in assets.lineage_lines(planned, found):
            out.print(f"  {line}", markup=False, soft_wrap=True)


def status_command(
    run_id: str = typer.Argument(..., metavar="RUN", help="The mission run id."),
) -> None:
    """Show the tree of groups and steps of a run: state, attempts, duration, errors."""

    def action() -> int:
        check_run_id(run_id)
        connect()
        _print_status(run_id)
        return 0

    guard(action)


def list_command(limit: int = typer.Option(20, help="How many runs to show.")) -> None:
    """Recent mission runs, newest first."""

    def action() -> int:
        connect()
        from autoagent.reader import open_reader
        from autoagent.records import mission_name
        from autoagent.render import runs_table
        from autoagent.waits import summary

        rows = []
        with open_reader() as reader:
            found = [(run, _markers(reader, run)) for run in reader.recent(limit)]
        for run, markers in found:
            rows.append(
                {
                    "id": str(run.id),
                    "mission": mission_name(run),
                    "state": run.state.name if run.state else "?",
                    "started": run.start_time.strftime("%Y-%m-%d %H:%M:%S")
                    if run.start_time
                    else "",
                    "duration": f"{run.total_run_time.total_seconds():.1f}s"
                    if run.total_run_time
                    else "",
                    "waiting for": summary(markers),
                }
            )
        if not rows:
            out.print("no missions yet: start one with `autoagent run FILE`")
        else:
            out.print(runs_table(rows))
        return 0

    guard(action)


def _markers(reader: Any, run: Any) -> list[dict[str, Any]]:
    ended = run.state is None or run.state.is_final()
    return [] if ended else reader.waiting(run.id)


def approve(
    run_id: str = typer.Argument(..., metavar="RUN", help="The mission run id."),
    step: str | None = typer.Option(
        None, "--step", help="The approval step (id or path); needed when several wait."
    ),
    reject: bool = typer.Option(False, "--reject", help="Reject instead of approving."),
    comment: str = typer.Option("", "--comment", help="Why, for the record."),
    field: list[str] = typer.Option([], "--field", "-f", help="KEY=VALUE, repeatable."),
) -> None:
    """Answer a waiting approval; bad input is refused and the run keeps waiting."""

    def action() -> int:
        fields = parse_params(field, option="--field")
        check_run_id(run_id)
        connect()
        from autoagent import waits

        waits.approve(run_id, step, approved=not reject, comment=comment, fields=fields)
        verdict = "rejected" if reject else "approved"
        out.print(f"{verdict}: {_continues(run_id)}", markup=False)
        return 0

    guard(action)


def signal(
    run_id: str = typer.Argument(..., metavar="RUN", help="The mission run id."),
    key: str = typer.Argument(..., help="The event key the mission waits (or will wait) for."),
    data: str = typer.Option("null", "--data", "-d", help="The payload, as JSON."),
) -> None:
    """Send an event to a run; kept until the step that waits for it consumes it."""

    def action() -> int:
        import json

        try:
            payload = json.loads(data)
        except json.JSONDecodeError as exc:
            raise AutoAgentError(f"--data is not JSON: {exc}") from None
        check_run_id(run_id)
        connect()
        from autoagent import waits

        waits.signal(run_id, key, payload)
        out.print(f"signal {key!r} delivered: {_continues(run_id)}", markup=False)
        return 0

    guard(action)


def _continues(run_id: str) -> str:
    """Whether the run will take the answer by itself, or needs `resume` (its process died)."""
    from autoagent import runs

    flow_run = runs.read_run(run_id)
    if flow_run.state is not None and flow_run.state.is_final():
        return f"run {run_id} has ended ({flow_run.state.name})"
    if flow_run.deployment_id is not None and flow_run.state and flow_run.state.is_scheduled():
        return f"run {run_id} is rescheduled on its deployment and continues there"
    if runs.alive_reason(flow_run) is None:
        return (
            f"run {run_id} keeps it, but its process is gone: continue it with"
            f" `autoagent resume {run_id}`"
        )
    return f"run {run_id} continues"


def cancel(run_id: str = typer.Argument(..., metavar="RUN", help="The mission run id.")) -> None:
    """Cancel a run that has not finished (its local process is asked to stop)."""

    def action() -> int:
        check_run_id(run_id)
        connect()
        from autoagent import runs

        flow_run = runs.cancel(run_id)
        out.print(f"run {flow_run.id} {flow_run.state.name if flow_run.state else 'cancelled'}")
        return 0

    guard(action)
