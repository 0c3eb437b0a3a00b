"""``autoagent list``: mission runs found by their filters (autoagent.server.finding), read over
the REST API without importing Prefect or the spec models (a table needs neither), as a table or
as JSON for scripts."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from autoagent.cli.output import out
from autoagent.cli.render import runs_table, summary
from autoagent.errors import AutoAgentError
from autoagent.server.finding import WAIT_KINDS, Found, RunQuery, find
from autoagent.server.reader import open_reader
from autoagent.server.records import StateType, mission_name
from autoagent.server.tags import params_of, user_tags

STATE_ALIASES = {"WAITING": StateType.PAUSED}
"""``waiting``: paused or suspended (a step waits for a person, an event or a timer)."""
AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def print_runs(query: RunQuery, as_json: bool) -> None:
    with open_reader() as reader:
        found = find(reader, query)
    if as_json:
        sys.stdout.write(json.dumps([_record(f) for f in found], indent=2) + "\n")
    elif found:
        out.print(runs_table([_row(f) for f in found]))
    elif query == RunQuery(limit=query.limit):
        out.print("no missions yet: start one with `autoagent run FILE`")
    else:
        out.print("no mission run matches")


def _row(found: Found) -> dict[str, str]:
    run = found.run
    return {
        "id": str(run.id),
        "mission": mission_name(run),
        "state": run.state.name if run.state else "?",
        "started": run.start_time.strftime("%Y-%m-%d %H:%M:%S") if run.start_time else "",
        "duration": f"{run.total_run_time.total_seconds():.1f}s" if run.total_run_time else "",
        "tags": " ".join(user_tags(run.tags)),
        "waiting for": summary(found.waiting),
    }


def _record(found: Found) -> dict[str, Any]:
    """One run for scripts: stable keys, times in ISO 8601 (UTC), the waits as recorded."""
    run = found.run

    def when(moment: Any) -> str | None:
        return moment.isoformat() if moment is not None else None

    return {
        "id": str(run.id),
        "name": run.name,
        "mission": mission_name(run),
        "state": run.state.name if run.state else None,
        "state_type": run.state.type.value if run.state else None,
        "created": when(run.created),
        "started": when(run.start_time),
        "ended": when(run.end_time),
        "run_seconds": run.total_run_time.total_seconds(),
        "run_count": run.run_count,
        "deployment_id": str(run.deployment_id) if run.deployment_id else None,
        "tags": user_tags(run.tags),
        "params": params_of(run.tags),
        "waiting": [
            {k: m[k] for k in ("kind", "path", "key", "deadline", "since") if k in m}
            for m in found.waiting
        ],
    }


def parse_query(
    states: list[str],
    mission: str | None,
    tags: list[str],
    waiting: str | None,
    since: str | None,
    before: str | None,
    limit: int,
) -> RunQuery:
    """The filters as typed, each checked (bad input names the option and what it accepts)."""
    return RunQuery(
        states=frozenset(_state(s) for s in states),
        mission=mission,
        tags=tuple(tags),
        waiting=_choice("--waiting", waiting, WAIT_KINDS),
        since=_moment("--since", since),
        before=_moment("--before", before),
        limit=limit,
    )


def _state(text: str) -> StateType:
    wanted = text.strip().upper()
    if wanted in STATE_ALIASES:
        return STATE_ALIASES[wanted]
    if wanted not in StateType.__members__:
        names = ", ".join(s.lower() for s in [*StateType.__members__, *STATE_ALIASES])
        raise AutoAgentError(f"--state {text!r}: not a state; use one of {names}")
    return StateType[wanted]


def _choice(option: str, text: str | None, allowed: tuple[str, ...]) -> str | None:
    if text is not None and text not in allowed:
        raise AutoAgentError(f"{option} {text!r}: use one of {', '.join(allowed)}")
    return text


def _moment(option: str, text: str | None) -> datetime | None:
    """A date or time (ISO 8601; without a zone, this machine's), or an age: ``90m``, ``2h``,
    ``3d``, ``1w`` ago."""
    if text is None:
        return None
    if age := AGE.fullmatch(text.strip()):
        seconds = float(age[1]) * AGE_UNITS[age[2]]
        return datetime.now(UTC) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AutoAgentError(
            f"{option} {text!r}: expected a date or time (2026-12-01,"
            " 2026-12-01T09:30, with a zone or in this machine's) or an age (90m, 2h, 3d, 1w)"
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()
