"""What every command shares: the consoles, exit codes, the one error guard, and the way to the
server (Prefect's settings first, then the API: the local server started if none is configured)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from autoagent import prefect_settings
from autoagent.errors import AutoAgentError, RunError, ServerError, SpecError

# piped output (logs, scripts, CI) gets room for a run table instead of 80 columns
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False)

EXIT_FAILED, EXIT_INPUT, EXIT_REFUSED, EXIT_SERVER = 1, 2, 3, 4


def connect(verbose: bool = False) -> str:
    """Before Prefect is imported: AutoAgent's defaults for its settings (its console logs only
    with --verbose), then the API, the local server started if none is configured."""
    from autoagent.server.connection import ensure_api  # lazy: --help and validate need no server

    prefect_settings.apply_defaults(prefect_settings.defaults(quiet=not verbose))
    return ensure_api(say=say, status=status_line)


def check_run_id(run_id: str) -> None:
    """Bad input is refused before any server is involved."""
    from autoagent.server.records import parse_run_id  # lazy: --help needs no pydantic

    parse_run_id(run_id)


def say(line: str) -> None:
    err.print(line, style="dim", markup=False, soft_wrap=True)


def status_line(line: str) -> Any:
    if err.is_terminal:
        return err.status(line)
    say(line)
    return contextlib.nullcontext()


def ui_url(api_url: str) -> str:
    """Where the Prefect UI of this API is (PREFECT_UI_URL, else the API's URL without /api)."""
    configured = os.environ.get("PREFECT_UI_URL")
    return (configured or api_url.removesuffix("/").removesuffix("/api")).rstrip("/")


def guard(action: Callable[[], int | None]) -> None:
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
    from autoagent.spec.loader import ReadError, read_value  # lazy: --help needs no spec models

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AutoAgentError(f"{option} {pair!r}: expected KEY=VALUE")
        try:
            params[key.strip()] = read_value(value) if value.strip() else ""
        except ReadError as exc:  # one line, the value shortened: it may be anything
            shown = value if len(value) <= 40 else value[:37] + "..."
            name = key.strip()[:40]
            message = f"{option} {name}: cannot read value {shown!r}: {exc.message}"
            raise AutoAgentError(message) from None
    return params
