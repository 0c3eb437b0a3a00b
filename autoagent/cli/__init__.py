"""The ``autoagent`` command line.

Exit codes: 0 the mission (or command) succeeded; 1 the mission did not complete; 2 bad input (an
invalid spec, an unknown param, a malformed run id); 3 the operation was refused (the run is still
alive, already finished, or unknown); 4 no server (the configured one does not answer, or the
local one cannot start). Errors go to stderr, one line each, never a traceback for a user's
mistake (set AUTOAGENT_DEBUG=1 to see one for a bug).

Prefect is imported only by the commands that run or change missions, and only after
``output.connect`` has put its settings in place: ``validate`` and ``--help`` never load it, and
``status`` and ``list`` read the server over its REST API (autoagent.server.reader).
"""

from __future__ import annotations

import sys

import typer

from autoagent.cli import missions, server
from autoagent.cli.output import parse_params

__all__ = ["app", "main", "parse_params"]

app = typer.Typer(
    name="autoagent",
    help="Run long multi-agent missions on Prefect: validate, run, watch, resume.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(missions.validate)
app.command()(missions.run)
app.command()(missions.resume)
app.command("status")(missions.status_command)
app.command("list")(missions.list_command)
app.command()(missions.approve)
app.command()(missions.signal)
app.command()(missions.cancel)
app.add_typer(server.app, name="server")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
