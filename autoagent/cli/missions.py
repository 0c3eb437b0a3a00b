"""The commands on missions: validate, run, resume, status, list, approve, signal, cancel.

Each command parses its arguments here and does its work in the module of its weight, imported
when it runs: ``validate`` needs the spec rules (Jinja2), ``status`` and ``list`` only the REST
reader (autoagent.cli.showing, autoagent.cli.listing), the others Prefect
(autoagent.cli.running), which ``connect`` first configures. ``--help`` imports none of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from autoagent.cli.output import check_run_id, connect, err, guard, out, parse_params
from autoagent.errors import AutoAgentError


def validate(
    file: Path = typer.Argument(..., help="Mission spec, YAML or JSON."),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse the spec for warnings too (exit 2)."
    ),
) -> None:
    """Check a spec without running anything; every problem on its own line."""

    def action() -> int:
        from autoagent.spec.validate import load  # lazy: the CLI's latency (see the module)

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
    tag: list[str] = typer.Option(
        [], "--tag", "-t", help="A tag for the run (repeatable): `list --tag` and the UI find it."
    ),
) -> None:
    """Validate and run a mission here; exit 0 only if it completed."""

    def action() -> int:
        from autoagent.spec.validate import load  # lazy: the CLI's latency (see the module)

        spec = load(file)
        _warn(spec.warnings)
        params = parse_params(param)
        spec.check_params(params)  # before a server is started for nothing
        from autoagent.server.tags import check_user_tags  # lazy: the CLI's latency

        tags = check_user_tags(tag)
        api = connect(verbose)
        from autoagent.cli import running  # lazy: Prefect, after connect configured it

        return running.run(spec, params, auto_approve, api, tags)

    guard(action)


def resume(
    run_id: str = typer.Argument(..., metavar="RUN", help="The mission run id."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's own logs."),
    allow_changed_code: bool = typer.Option(
        False,
        "--allow-changed-code",
        help="Resume a mission written as code even though its code changed since it began.",
    ),
) -> None:
    """Run a crashed or failed mission again on the same run id; completed steps are not re-run."""

    def action() -> int:
        check_run_id(run_id)
        connect(verbose)
        from autoagent.cli import running  # lazy: Prefect, after connect configured it

        return running.resume(run_id, allow_changed_code)

    guard(action)


def status_command(
    run_id: str = typer.Argument(..., metavar="RUN", help="The mission run id."),
) -> None:
    """Show the tree of groups and steps of a run: state, attempts, duration, errors."""

    def action() -> int:
        check_run_id(run_id)
        connect()
        from autoagent.cli import showing  # lazy: the CLI's latency (see the module)

        showing.print_status(run_id)
        return 0

    guard(action)


def list_command(
    state: list[str] = typer.Option(
        [], "--state", "-s", help="running, completed, failed, crashed, waiting, ... (repeatable)."
    ),
    mission: str | None = typer.Option(None, "--mission", "-m", help="The mission's name."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="Runs with this tag (repeatable: all)."),
    waiting: str | None = typer.Option(
        None, "--waiting", "-w", help="Runs waiting now for: approval, event or timer."
    ),
    since: str | None = typer.Option(
        None, "--since", help="Started at or after: a date or time, or an age (2h, 3d)."
    ),
    before: str | None = typer.Option(
        None, "--before", help="Started before: a date or time, or an age (2h, 3d)."
    ),
    limit: int = typer.Option(20, min=1, max=10000, help="How many runs to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON, for scripts."),
) -> None:
    """Mission runs, newest first, filtered: what each waits for, its tags."""

    def action() -> int:
        from autoagent.cli import listing  # lazy: the CLI's latency (see the module)

        query = listing.parse_query(state, mission, tag, waiting, since, before, limit)
        connect()
        listing.print_runs(query, as_json)
        return 0

    guard(action)


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
        from autoagent.cli import running  # lazy: Prefect, after connect configured it

        return running.approve(run_id, step, reject, comment, fields)

    guard(action)


def signal(
    run_id: str = typer.Argument(..., metavar="RUN", help="The mission run id."),
    key: str = typer.Argument(..., help="The event key the mission waits (or will wait) for."),
    data: str = typer.Option("null", "--data", "-d", help="The payload, as JSON."),
) -> None:
    """Send an event to a run; kept until the step that waits for it consumes it."""

    def action() -> int:
        try:
            payload = json.loads(data)
        except json.JSONDecodeError as exc:
            raise AutoAgentError(f"--data is not JSON: {exc}") from None
        check_run_id(run_id)
        connect()
        from autoagent.cli import running  # lazy: Prefect, after connect configured it

        return running.signal(run_id, key, payload)

    guard(action)


def cancel(run_id: str = typer.Argument(..., metavar="RUN", help="The mission run id.")) -> None:
    """Cancel a run that has not finished (its local process is asked to stop)."""

    def action() -> int:
        check_run_id(run_id)
        connect()
        from autoagent.cli import running  # lazy: Prefect, after connect configured it

        return running.cancel(run_id)

    guard(action)
