"""``autoagent server``: the local Prefect server (status, start, stop) and ``setup`` of any."""

from __future__ import annotations

import typer

from autoagent import prefect_settings
from autoagent.cli.output import connect, guard, out, say, status_line
from autoagent.errors import RunError

app = typer.Typer(
    help="The local Prefect server (the embedded default), and setting up any server.",
    no_args_is_help=True,
)


@app.command("status")
def server_status() -> None:
    """Which server commands use; for the local one, its process, URL, database and log."""

    def action() -> int:
        from autoagent.server import connection, local  # lazy: the CLI's latency

        configured = prefect_settings.value("PREFECT_API_URL")
        if configured:
            reachable = connection.healthy(connection.access())
            state = "answers" if reachable else "does not answer"
            out.print(f"configured server (PREFECT_API_URL) {configured}: {state}", markup=False)
            return 0 if reachable else 1
        home = prefect_settings.prefect_home()
        server = local.find()
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

    guard(action)


@app.command("start")
def server_start() -> None:
    """Start the local Prefect server now (commands start it on first use anyway)."""

    def action() -> int:
        from autoagent.server import local  # lazy: the CLI's latency

        if prefect_settings.value("PREFECT_API_URL"):
            raise RunError("PREFECT_API_URL is set: commands use that server, not a local one")
        server = local.ensure(say=say, status=status_line)
        out.print(f"local Prefect server running: {server.ui_url} (pid {server.pid})")
        return 0

    guard(action)


@app.command("stop")
def server_stop() -> None:
    """Stop the local Prefect server of this home (its database stays)."""

    def action() -> int:
        from autoagent.server import local  # lazy: the CLI's latency

        stopped, stale = local.stop()
        if stale:
            say(stale)
        if stopped is None:
            home = prefect_settings.prefect_home()
            out.print(f"no local Prefect server runs for {home}", markup=False)
        else:
            out.print(f"stopped the local Prefect server (pid {stopped.pid}, {stopped.ui_url})")
        return 0

    guard(action)


@app.command("setup")
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
        connect()
        from autoagent.engine import automations  # lazy: Prefect, after connect configured it

        installed = automations.setup(pool, silence, max_resumes, backoff)
        out.print(f"recovery deployment recover/recover ({installed['recover_deployment']})")
        for name in installed["automations"]:
            out.print(f"automation {name!r}")
        return 0

    guard(action)


@app.command("metrics")
def server_metrics(
    host: str = typer.Option("127.0.0.1", help="Address to serve /metrics on."),
    port: int = typer.Option(9464, min=1, max=65535, help="Port to serve /metrics on."),
    every: float = typer.Option(5.0, min=0.5, help="Seconds between two reads of the server."),
) -> None:
    """Serve AutoAgent's Prometheus metrics, counted from the server's events, until stopped."""

    def action() -> int:
        connect()
        from autoagent.server import exporter  # lazy: the CLI's latency

        out.print(f"AutoAgent metrics: http://{host}:{port}/metrics", markup=False)
        try:
            exporter.serve(host, port, every)
        except OSError as exc:
            raise RunError(f"cannot serve metrics on {host}:{port}: {exc}") from None
        except KeyboardInterrupt:
            out.print("metrics exporter stopped")
        return 0

    guard(action)
