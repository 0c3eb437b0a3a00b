"""The mission report: a markdown artifact with the table of steps, shown in the Prefect UI."""

from __future__ import annotations

import json
from typing import Any

from prefect.artifacts import create_markdown_artifact

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
    create_markdown_artifact(
        markdown=report_markdown(spec, root),
        key=f"mission-{spec.name}".replace("_", "-").lower()[:60],
        description=f"AutoAgent report of mission {spec.name}",
    )
