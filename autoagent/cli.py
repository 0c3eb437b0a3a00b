"""The ``autoagent`` command line.

Exit codes: 0 the mission (or command) succeeded; 1 the mission did not complete; 2 bad input (an
invalid spec, an unknown param, a malformed run id); 3 the operation was refused (the run is still
alive, already finished, or unknown); 4 no server (the configured one does not answer, or the
local one cannot start). Errors go to stderr, one line each, never a traceback for a user's
mistake (set AUTOAGENT_DEBUG=1 to see one for a bug).

Prefect is imported only by the commands that run or change missions, and only after
``_connect`` has put its settings in place: ``validate`` and ``--help`` never load it, and
``status`` and ``list`` read the server over its REST API (autoagent.reader).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console

from autoagent import prefect_settings
from autoagent.errors import AutoAgentError, RunError, ServerError, SpecError

app = typer.Typer(
    name="autoagent",
    help="Run long multi-agent missions on Prefect: validate, run, watch, resume.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# piped output (logs, scripts, CI) gets room for a run table instead of 80 columns
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False)

EXIT_FAILED, EXIT_INPUT, EXIT_REFUSED, EXIT_SERVER = 1, 2, 3, 4


def _connect(verbose: bool = False) -> str:
    """Before Prefect is imported: AutoAgent's defaults for its settings (its console logs only
    with --verbose), then the API, the local server started if none is configured."""
    from autoagent.connection import ensure_api

    prefect_settings.apply_defaults(prefect_settings.defaults(quiet=not verbose))
    return ensure_api(say=_say, status=_status)


def _check_run_id(run_id: str) -> None:
    """Bad input is refused before any server is involved."""
    from autoagent.records import parse_run_id

    parse_run_id(run_id)


def _say(line: str) -> None:
    err.print(line, style="dim", markup=False, soft_wrap=True)


def _status(line: str) -> Any:
    if err.is_terminal:
        return err.status(line)
    _say(line)
    return contextlib.nullcontext()


def _ui_url(api_url: str) -> str:
    """Where the Prefect UI of this API is (PREFECT_UI_URL, else the API's URL without /api)."""
    configured = os.environ.get("PREFECT_UI_URL")
    return (configured or api_url.removesuffix("/").removesuffix("/api")).rstrip("/")


def _guard(action: Callable[[], int | None]) -> None:
    try:
        code = action()
    except ServerError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_SERVER) from None
    except SpecError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_INPUT) from None
    except RunError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_REFUSED) from None
    except AutoAgentError as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_INPUT) from None
    except KeyboardInterrupt:
        err.print("interrupted: the run stays resumable with `autoagent resume RUN`")
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as exc:
        if os.environ.get("AUTOAGENT_DEBUG"):
            raise
        err.print(
            f"internal error: {type(exc).__name__}: {exc} (set AUTOAGENT_DEBUG=1 for a traceback)",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FAILED) from None
    raise typer.Exit(code or 0)


def parse_params(pairs: list[str], option: str = "--param") -> dict[str, Any]:
    """``k=v`` pairs; values are YAML scalars or lists (``n=3``, ``flag=true``, ``xs=[1,2]``)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AutoAgentError(f"{option} {pair!r}: expected KEY=VALUE")
        try:
            params[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as exc:
            raise AutoAgentError(f"{option} {key}: cannot read value {value!r}: {exc}") from None
    return params


@app.command()
def validate(file: Path = typer.Argument(..., help="Mission spec, YAML or JSON.")) -> None:
    """Check a spec without running anything; every problem on its own line."""

    def action() -> int:
        from autoagent.spec import load

        spec = load(file)
        count = len(spec.walk())
        out.print(f"✓ mission {spec.name!r} is valid ({count} steps)")
        return 0

    _guard(action)


@app.command()
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
        params = parse_params(param)
        unknown = sorted(set(params) - set(spec.params))
        if unknown:
            raise SpecError.for_params(spec.name, unknown, sorted(spec.params))
        api = _connect(verbose)
        from autoagent import runs

        with runs.session():
            flow_run = runs.start(spec, params, auto_approve=auto_approve)
            out.print(f"mission {spec.name!r} run {flow_run.id}", markup=False)
            out.print(f"  {_ui_url(api)}/runs/flow-run/{flow_run.id}", markup=False, style="dim")
            return _execute_and_report(flow_run)

    _guard(action)


@app.command()
def resume(
    run_id: str = typer.Argument(..., metavar="RUN", help="The mission run id."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's own logs."),
) -> None:
    """Run a crashed or failed mission again on the same run id; completed steps are not re-run."""

    def action() -> int:
        _check_run_id(run_id)
        _connect(verbose)
        from autoagent import runs

        with runs.session():
            flow_run = runs.prepare_resume(run_id)
            out.print(f"resuming run {flow_run.id}", markup=False)
            return _execute_and_report(flow_run)

    _guard(action)


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


@app.command("status")
def status_command(
    run_id: str = typer.Argument(..., metavar="RUN", help="The mission run id."),
) -> None:
    """Show the tree of groups and steps of a run: state, attempts, duration, errors."""

    def action() -> int:
        _check_run_id(run_id)
        _connect()
        _print_status(run_id)
        return 0

    _guard(action)


@app.command("list")
def list_command(limit: int = typer.Option(20, help="How many runs to show.")) -> None:
    """Recent mission runs, newest first."""

    def action() -> int:
        _connect()
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

    _guard(action)


def _markers(reader: Any, run: Any) -> list[dict[str, Any]]:
    ended = run.state is None or run.state.is_final()
    return [] if ended else reader.waiting(run.id)


@app.command()
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
        _check_run_id(run_id)
        _connect()
        from autoagent import waits

        waits.approve(run_id, step, approved=not reject, comment=comment, fields=fields)
        verdict = "rejected" if reject else "approved"
        out.print(f"{verdict}: {_continues(run_id)}", markup=False)
        return 0

    _guard(action)


@app.command()
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
        _check_run_id(run_id)
        _connect()
        from autoagent import waits

        waits.signal(run_id, key, payload)
        out.print(f"signal {key!r} delivered: {_continues(run_id)}", markup=False)
        return 0

    _guard(action)


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


@app.command()
def cancel(run_id: str = typer.Argument(..., metavar="RUN", help="The mission run id.")) -> None:
    """Cancel a run that has not finished (its local process is asked to stop)."""

    def action() -> int:
        _check_run_id(run_id)
        _connect()
        from autoagent import runs

        flow_run = runs.cancel(run_id)
        out.print(f"run {flow_run.id} {flow_run.state.name if flow_run.state else 'cancelled'}")
        return 0

    _guard(action)


server_app = typer.Typer(
    help="The local Prefect server (the embedded default), and setting up any server.",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")


@server_app.command("status")
def server_status() -> None:
    """Which server commands use; for the local one, its process, URL, database and log."""

    def action() -> int:
        from autoagent import connection, local_server

        configured = prefect_settings.value("PREFECT_API_URL")
        if configured:
            reachable = connection.healthy(connection.access())
            state = "answers" if reachable else "does not answer"
            out.print(f"configured server (PREFECT_API_URL) {configured}: {state}", markup=False)
            return 0 if reachable else 1
        home = prefect_settings.prefect_home()
        server = local_server.find()
        if server is None:
            out.print(
                f"no local Prefect server runs for {home}: the next command that needs one"
                " starts it (or `autoagent server start`)",
                markup=False,
            )
            return 1
        state = "healthy" if server.healthy() else "not answering yet"
        out.print(f"local Prefect server {state}: {server.ui_url} (pid {server.pid})")
        out.print(f"  API       {server.url}", markup=False)
        out.print(f"  database  {home / 'prefect.db'}", markup=False)
        out.print(f"  log       {server.log}", markup=False)
        return 0 if state == "healthy" else 1

    _guard(action)


@server_app.command("start")
def server_start() -> None:
    """Start the local Prefect server now (commands start it on first use anyway)."""

    def action() -> int:
        from autoagent import local_server

        if prefect_settings.value("PREFECT_API_URL"):
            raise RunError("PREFECT_API_URL is set: commands use that server, not a local one")
        server = local_server.ensure(say=_say, status=_status)
        out.print(f"local Prefect server running: {server.ui_url} (pid {server.pid})")
        return 0

    _guard(action)


@server_app.command("stop")
def server_stop() -> None:
    """Stop the local Prefect server of this home (its database stays)."""

    def action() -> int:
        from autoagent import local_server

        stopped, stale = local_server.stop()
        if stale:
            _say(stale)
        if stopped is None:
            home = prefect_settings.prefect_home()
            out.print(f"no local Prefect server runs for {home}", markup=False)
        else:
            out.print(f"stopped the local Prefect server (pid {stopped.pid}, {stopped.ui_url})")
        return 0

    _guard(action)


@server_app.command("setup")
def server_setup(
    pool: str = typer.Option("autoagent-process", help="Work pool of the recovery flow."),
    silence: float = typer.Option(
        90.0, help="Seconds without a heartbeat before a run counts as Crashed."
    ),
    max_resumes: int = typer.Option(3, help="Automatic resumes per run before it is Failed."),
    backoff: float = typer.Option(10.0, help="Seconds before the first automatic resume."),
) -> None:
    """Install crash detection and capped automatic resume of crashed deployed runs."""

    def action() -> int:
        if not prefect_settings.value("PREFECT_API_URL"):
            raise RunError(
                "`autoagent server setup` is for a server its workers share: set"
                " PREFECT_API_URL (and PREFECT_API_AUTH_STRING), e.g. from"
                " `python infra/prefect-server/stack.py env`"
            )
        _connect()
        from autoagent import server

        installed = server.setup(pool, silence, max_resumes, backoff)
        out.print(f"recovery deployment recover/recover ({installed['recover_deployment']})")
        for name in installed["automations"]:
            out.print(f"automation {name!r}")
        return 0

    _guard(action)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
