"""The mission report: a markdown artifact with the table of steps, shown in the Prefect UI.

A run driven in a ``session()`` (``autoagent run``, ``resume``, ``run_spec``) posts it from a
thread so that its round trip overlaps the engine's final state change: at the end of a run both
wait on a server still ingesting the steps' events, and waiting once is enough. The session's
client lives until the driver has joined the thread (the journal's ``join``, which
``autoagent.api.runs.execute`` calls). Otherwise (a worker's flow process) it is posted before the
flow returns, on the run's client.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from prefect.client.schemas.actions import ArtifactCreate
from prefect.context import FlowRunContext

from autoagent.engine.journal import Journal
from autoagent.server.client import client, in_session
from autoagent.spec import MissionSpec
from autoagent.spec.lineage import planned_lineage


def summarize(output: Any, width: int = 60) -> str:
    """One line of an output for a table cell."""
    if output is None:
        return ""
    text = output if isinstance(output, str) else json.dumps(output, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def report_markdown(spec: MissionSpec, journal: Journal) -> str:
    outcomes = journal.outcomes
    rows = [
        f"# Mission `{spec.name}`",
        "",
        spec.description,
        "",
        "| step | state | attempts | duration | output |",
        "|---|---|---|---|---|",
    ]
    for path, outcome in sorted(outcomes.items(), key=lambda kv: kv[1].started or 0):
        state = outcome.state + (" (cached)" if outcome.cached else "")
        tries = journal.attempts.get(path, 0)
        duration = f"{outcome.duration:.2f}s" if outcome.duration is not None else ""
        shown = outcome.error if outcome.error else summarize(outcome.output)
        cell = shown.replace("|", "\\|") if shown else ""
        rows.append(f"| `{path}` | {state} | {tries or ''} | {duration} | {cell} |")
    lineage = planned_lineage(spec)
    if lineage:
        rows += ["", "## Assets", "", "| asset | built from |", "|---|---|"]
        for key, sources in sorted(lineage.items()):
            rows.append(f"| `{key}` | {', '.join(f'`{s}`' for s in sources) or '—'} |")
    return "\n".join(rows)


def publish_report(spec: MissionSpec, journal: Journal, *, background: bool = False) -> None:
    """Post the report of the current mission run (its table is fixed now); ``background``: from
    a thread the journal's reader joins, when a session's client outlives the run."""
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    artifact = ArtifactCreate(
        key=f"mission-{spec.name}".replace("_", "-").lower()[:60],
        type="markdown",
        data=report_markdown(spec, journal),
        description=f"AutoAgent report of mission {spec.name}",
        flow_run_id=context.flow_run.id,
    )
    if background and in_session():
        journal.in_background(lambda: _post(artifact), name="report")
    else:
        _post(artifact)


logger = logging.getLogger("autoagent.report")


def _post(artifact: ArtifactCreate) -> None:
    try:
        with client() as prefect:
            prefect.create_artifact(artifact)
    except Exception:
        logger.warning("could not post the report of run %s", artifact.flow_run_id, exc_info=True)
