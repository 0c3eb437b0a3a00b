"""The mission report: a markdown artifact with the table of steps, shown in the Prefect UI:
the tree ``autoagent status`` shows, with each step's output. It is posted when the mission ends,
and when it starts waiting for someone, so a paused run says where it stands.

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
from prefect.client.schemas.objects import TaskRun
from prefect.context import FlowRunContext

from autoagent.engine.conversation_record import transcript, turns_table
from autoagent.engine.journal import Journal
from autoagent.errors import ServerError
from autoagent.server import status
from autoagent.server.answering import waits_for
from autoagent.server.client import client, in_session
from autoagent.server.reader import open_reader
from autoagent.server.records import TaskRunRecord
from autoagent.server.status import MissionStatus, StepStatus
from autoagent.server.status_nodes import shown_items
from autoagent.spec import MissionSpec
from autoagent.spec.lineage import planned_lineage


def summarize(output: Any, width: int = 60) -> str:
    """One line of an output for a table cell."""
    if output is None:
        return ""
    text = output if isinstance(output, str) else json.dumps(output, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def report_markdown(spec: MissionSpec, tree: MissionStatus, journal: Journal) -> str:
    """The report: the status tree ``autoagent status`` shows (the same states, attempts and
    durations, read from the server), in the spec's order with children under their parent,
    and for each step its output, or why it failed, waits or did not run."""
    spent = f"{tree.duration:.2f}s running" if tree.duration is not None else "not started"
    waited = f", {tree.waited:.2f}s waiting" if tree.waited and tree.waited >= 0.5 else ""
    waits = [s.path for s in tree.walk() if s.state == "waiting"]
    state = tree.state + (f", waiting for {', '.join(waits)}" if waits else "")
    rows = [
        f"# Mission `{spec.name}`",
        "",
        spec.description,
        "",
        f"**{state}**: {spent}{waited}.",
        "",
        "| step | state | attempts | duration | output or why |",
        "|---|---|---|---|---|",
    ]
    for step, depth in _in_order(tree.steps):
        name = INDENT * depth + f"`{step.id}`"
        state = step.state + (" (cached)" if step.cached else "")
        duration = f"{step.duration:.2f}s" if step.duration is not None else ""
        done = journal.outcomes.get(step.path)
        said = step.error or step.reason or _waits(step)
        shown = said or (_summary(done.output) if done is not None else "")
        cell = shown.replace("|", "\\|") if shown else ""
        rows.append(f"| {name} | {state} | {step.attempts or ''} | {duration} | {cell} |")
    rows += _conversations(tree, journal)
    lineage = planned_lineage(spec)
    if lineage:
        rows += ["", "## Assets", "", "| asset | built from |", "|---|---|"]
        for key, sources in sorted(lineage.items()):
            rows.append(f"| `{key}` | {', '.join(f'`{s}`' for s in sources) or '—'} |")
    return "\n".join(rows)


def _summary(output: Any) -> str:
    """A step's output in a cell; an LLM agent's as its answer, turns, tokens and cost."""
    if isinstance(output, dict) and isinstance(output.get("turns"), list) and "usage" in output:
        usage = output["usage"]
        tokens = usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
        spent = f" ({len(output['turns'])} turns, {tokens} tokens, cost {usage.get('cost', 0):.4g})"
        return summarize(output.get("answer"), width=60 - len(spent)) + spent
    return summarize(output)


def _conversations(tree: MissionStatus, journal: Journal) -> list[str]:
    """Each LLM agent's turns (and, for the first few, the transcript) under the table."""
    rows: list[str] = []
    shown = 0
    for step in tree.walk():
        done = journal.outcomes.get(step.path)
        output = done.output if done is not None else None
        if not (isinstance(output, dict) and isinstance(output.get("turns"), list)):
            continue
        rows += [
            "",
            f"## `{step.path}`: agent {output.get('agent')}",
            "",
            turns_table(output["turns"]),
        ]
        if shown < TRANSCRIPTS and isinstance(output.get("messages"), list):
            rows += ["", "### Transcript", "", transcript(output["messages"])]
            shown += 1
    return rows


TRANSCRIPTS = 3
"""Agent steps whose transcript the report shows (each has its own artifact with it too)."""
REPORT_PATIENCE = 30.0
"""Seconds the report's reads wait out an API that fails (a database restarting)."""
logger = logging.getLogger("autoagent.report")

INDENT = "\u00a0\u00a0\u00a0"
"""Before a step's name in the report, once per group it is in (markdown keeps no spaces)."""


def _in_order(nodes: list[StepStatus], depth: int = 0) -> list[tuple[StepStatus, int]]:
    """Steps in the spec's order, each followed by its children (group steps, for_each items)."""
    found: list[tuple[StepStatus, int]] = []
    for node in nodes:
        found.append((node, depth))
        children, hidden = shown_items(node.children)
        found.extend(_in_order(children, depth + 1))
        if hidden:
            more = StepStatus(path=f"{node.path}[…]", id="…", kind="items", state="completed")
            more.reason = f"{hidden:,} more items completed (the run's table artifacts list each)"
            found.append((more, depth + 1))
    return found


def _waits(step: StepStatus) -> str:
    return waits_for(step.waits_for) if step.waits_for is not None else ""


def publish_report(
    spec: MissionSpec, journal: Journal, *, background: bool = False, state: str | None = None
) -> None:
    """Post the report of the current mission run; ``state``: the mission's, when it is about to
    end or pause (its record still says Running). ``background``: from a thread the journal's
    reader joins, when a session's client outlives the run. The steps this process saw end are
    shown as it saw them where the server has not recorded them yet: nothing waits for that."""
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    run_id = context.flow_run.id
    seen = [_record(run) for run in list(journal.task_runs.values())]

    def post() -> None:
        try:
            with open_reader(patience=REPORT_PATIENCE) as reader:
                tree = status.read(reader, str(run_id), known=seen).status
        except ServerError as exc:  # the report is a view: the mission goes on without it
            logger.warning("the report of run %s was not published: %s", run_id, exc)
            return
        if state is not None:
            tree.state = state
        _post(
            ArtifactCreate(
                key=f"mission-{spec.name}".replace("_", "-").lower()[:60],
                type="markdown",
                data=report_markdown(spec, tree, journal),
                description=f"AutoAgent report of mission {spec.name}",
                flow_run_id=run_id,
            )
        )

    if background and in_session():
        journal.in_background(post, name="report")
    else:
        post()


def _record(task_run: TaskRun) -> TaskRunRecord:
    """A task run as the server will record it (its state's data, the result, left out)."""
    state = task_run.state
    return TaskRunRecord.model_validate(
        {
            **task_run.model_dump(
                mode="json",
                include={"id", "name", "created", "start_time", "end_time", "run_count"},
            ),
            "total_run_time": task_run.total_run_time,
            "flow_run_id": task_run.flow_run_id,
            "state": None
            if state is None
            else state.model_dump(
                mode="json", include={"type", "name", "message", "timestamp", "state_details"}
            ),
        }
    )


def _post(artifact: ArtifactCreate) -> None:
    try:
        with client() as prefect:
            prefect.create_artifact(artifact)
    except Exception:
        logger.warning("could not post the report of run %s", artifact.flow_run_id, exc_info=True)
