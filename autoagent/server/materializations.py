"""Assets a mission run materialized, read back from the server's events (the OSS server has no
lineage view): ``autoagent status`` shows each asset with what it was built from and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from autoagent.server.reader import Reader

MATERIALIZED = "prefect.asset.materialization.succeeded"


@dataclass
class Materialization:
    key: str
    upstream: list[str]
    step: str | None
    at: datetime


def recorded(reader: Reader, flow_run_ids: list[UUID]) -> list[Materialization]:
    """The materializations the server recorded for these flow runs (a mission and its
    subflows), oldest first."""
    if not flow_run_ids:
        return []
    wanted = {
        "event": {"name": [MATERIALIZED]},
        "related": {"id": [f"prefect.flow-run.{i}" for i in flow_run_ids]},
    }
    found = [_materialization(event) for event in reader.events(wanted)]
    return sorted(found, key=lambda m: m.at)


def _materialization(event: dict[str, Any]) -> Materialization:
    upstream_keys: list[str] = []
    step = None
    for related in event.get("related", []):
        role = related.get("prefect.resource.role")
        if role == "asset":
            upstream_keys.append(related["prefect.resource.id"])
        elif role == "task-run":
            step = related.get("prefect.resource.name")
    occurred = datetime.fromisoformat(event["occurred"])
    return Materialization(
        event["resource"]["prefect.resource.id"], sorted(upstream_keys), step, occurred
    )


def lineage_lines(planned: dict[str, list[str]], found: list[Materialization]) -> list[str]:
    """One line per asset: key ← upstream keys, and when (and by which step) it materialized."""
    latest = {m.key: m for m in found}
    lines = []
    for key in sorted(set(planned) | set(latest)):
        made = latest.get(key)
        sources = made.upstream if made is not None else planned.get(key, [])
        arrow = f" ← {', '.join(sources)}" if sources else " (no upstream asset)"
        when = (
            f"  materialized {made.at:%Y-%m-%d %H:%M:%S} by {made.step or '?'}"
            if made is not None
            else "  not materialized yet"
        )
        lines.append(f"{key}{arrow}{when}")
    return lines
