"""``autoagent list``: recent mission runs, read over the REST API without importing Prefect or
the spec models (a table needs neither)."""

from __future__ import annotations

from typing import Any

from autoagent.cli.output import out
from autoagent.cli.render import runs_table, summary
from autoagent.server.reader import Reader, open_reader
from autoagent.server.records import FlowRunRecord, mission_name


def print_recent(limit: int) -> None:
    """Recent mission runs, newest first, with what each waits for."""
    with open_reader() as reader:
        found = [(run, _markers(reader, run)) for run in reader.recent(limit)]
    rows = [_row(run, markers) for run, markers in found]
    if not rows:
        out.print("no missions yet: start one with `autoagent run FILE`")
    else:
        out.print(runs_table(rows))


def _row(run: FlowRunRecord, markers: list[dict[str, Any]]) -> dict[str, str]:
    return {
        "id": str(run.id),
        "mission": mission_name(run),
        "state": run.state.name if run.state else "?",
        "started": run.start_time.strftime("%Y-%m-%d %H:%M:%S") if run.start_time else "",
        "duration": f"{run.total_run_time.total_seconds():.1f}s" if run.total_run_time else "",
        "waiting for": summary(markers),
    }


def _markers(reader: Reader, run: FlowRunRecord) -> list[dict[str, Any]]:
    ended = run.state is None or run.state.is_final()
    return [] if ended else reader.waiting(run.id)
