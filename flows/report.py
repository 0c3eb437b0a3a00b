"""The mission report: a markdown artifact with the table of steps, shown in the Prefect UI.

It is posted from a thread so that its round trip overlaps the engine's final state change: at
the end of a run both wait on a server still ingesting the steps' events, and waiting once is
enough. ``wait_for_reports`` joins them (``autoagent.runs.execute`` does); the thread is not a
daemon, so a worker's flow process posts it before it exits.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
from typing import Any
from uuid import UUID

from prefect.context import FlowRunContext

from autoagent.assets import planned_lineage
from autoagent.spec import MissionSpec
from flows.outcomes import records
from tasks.step import attempts


def summarize(output: Any, width: int = 60) -> str:
    """One line of an output for a table cell."""
    if output is None:
        return ""
    text = output if isinstance(output, str) else json.dumps(output, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def report_markdown(spec: MissionSpec, root: str) -> str:
    outcomes = records.get(root, {})
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
        tries = attempts.get((root, path), 0)
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


def publish_report(spec: MissionSpec, root: str) -> None:
    """Post the report of the current mission run (its table is fixed now, posted meanwhile)."""
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    posting = threading.Thread(
        target=contextvars.copy_context().run,  # this run's settings: API URL, auth
        args=(
            _post,
            context.flow_run.id,
            f"mission-{spec.name}".replace("_", "-").lower()[:60],
            report_markdown(spec, root),
            f"AutoAgent report of mission {spec.name}",
        ),
        name="report",
    )
    posting.start()
    with _lock:
        _posting.append(posting)


def wait_for_reports(timeout: float = 30.0) -> None:
    """Join the reports this process is still posting."""
    with _lock:
        threads, _posting[:] = list(_posting), []
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


_posting: list[threading.Thread] = []
_lock = threading.Lock()
logger = logging.getLogger("autoagent.report")


def _post(flow_run_id: UUID, key: str, markdown: str, description: str) -> None:
    from prefect.client.schemas.actions import ArtifactCreate

    from autoagent.runs import lasting_client

    artifact = ArtifactCreate(
        key=key, type="markdown", data=markdown, description=description, flow_run_id=flow_run_id
    )
    try:
        with lasting_client() as client:  # the engine's own client closes when the run ends
            client.create_artifact(artifact)
    except Exception:
        logger.warning("could not post the report of run %s", flow_run_id, exc_info=True)
