"""The status tree of a mission run, read back from the Prefect server.

The spec (a parameter of the flow run) gives the shape; task runs (named by step path) and group
subflow runs give each node's state. A resumed run has several task runs per path: the newest
wins, and a cached one borrows the attempts of the run that really did the work.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoagent.server.connection import ensure_api
from autoagent.server.reader import Reader, open_reader
from autoagent.server.records import VERSION_KEY, FlowRunRecord, TaskRunRecord
from autoagent.server.status_nodes import (
    BATCH,
    UNIT,
    StepStatus,
    batched_items,
    from_flow_runs,
    from_task_runs,
    join,
    turns,
)
from autoagent.server.tags import spec_of
from autoagent.spec import MissionSpec, Step

_ITEM = re.compile(r"^(?P<base>.+)\[(?P<index>\d+)\]$")


@dataclass
class MissionStatus:
    run_id: str
    name: str
    mission: str
    state: str
    started: datetime | None
    duration: float | None
    """Seconds the mission ran (Prefect's run time: its waits are not in it)."""
    message: str | None
    steps: list[StepStatus]
    waited: float | None = None
    """Seconds it spent waiting (paused, suspended, on a timer) since it started."""
    version: str | None = None
    """What it runs: its spec's version, or the code a mission written as code began on."""

    def walk(self) -> list[StepStatus]:
        out: list[StepStatus] = []

        def visit(nodes: list[StepStatus]) -> None:
            for node in nodes:
                out.append(node)
                visit(node.children)

        visit(self.steps)
        return out

    def find(self, path: str) -> StepStatus | None:
        return next((s for s in self.walk() if s.path == path), None)


@dataclass
class Snapshot:
    """What the server holds of a mission run: its runs and the status tree built from them."""

    root: FlowRunRecord
    flow_runs: list[FlowRunRecord]
    status: MissionStatus


def load(run_id: str) -> Snapshot:
    """What the configured server holds of a mission run (spec or code)."""
    ensure_api()
    with open_reader() as reader:
        return read(reader, run_id)


def read(reader: Reader, run_id: str, known: Iterable[TaskRunRecord] = ()) -> Snapshot:
    """Read a mission run's records and build its status tree (what waits, while it runs).

    ``known``: task runs as the process that ran them left them; each stands in for the server's
    record until that one is final (the server records task runs from events, up to a second
    later on the stack): the same figures, without waiting for them."""
    root = reader.root_run(run_id)
    flow_runs = reader.descendants(root.id)
    task_runs = _overlaid(reader.task_runs([r.id for r in flow_runs]), known)
    ended = root.state is not None and root.state.is_final()
    waiting = [] if ended else reader.waiting(root.id)
    batches = [run.id for run in task_runs if BATCH.match(run.name)]
    tables = reader.tables(batches) if batches else {}
    built = build(root, flow_runs, task_runs, waiting, tables)
    spec = spec_of(root.tags)
    code = None if spec else reader.run_input(root.id, VERSION_KEY)
    built.version = f"spec {spec}" if spec else version_line(code) if code else None
    return Snapshot(root, flow_runs, built)


def version_line(code: dict[str, Any]) -> str:
    """The code a mission written as code began on, in one line (engine/versions.py)."""
    parts = []
    if code.get("file"):
        parts.append(f"{Path(code['file']).name} {str(code.get('source'))[:12]}")
    if code.get("git"):
        parts.append(f"git {code['git']}")
    if code.get("package"):
        parts.append(f"package {code['package']}")
    parts.append(f"AutoAgent {code.get('autoagent')}")
    return "code " + ", ".join(parts)


def _overlaid(recorded: list[TaskRunRecord], known: Iterable[TaskRunRecord]) -> list[TaskRunRecord]:
    runs = {run.id: run for run in recorded}
    for run in known:
        there = runs.get(run.id)
        if there is None or there.state is None or not there.state.is_final():
            runs[run.id] = run
    return list(runs.values())


def build(
    root: FlowRunRecord,
    flow_runs: list[FlowRunRecord],
    task_runs: list[TaskRunRecord],
    waiting: list[dict[str, Any]] | None = None,
    tables: dict[Any, list[dict[str, Any]]] | None = None,
) -> MissionStatus:
    """Assemble the tree from what the server holds; ``waiting`` are the run's wait markers
    (autoagent.server.inputs), shown on the steps that wait while the run has not ended;
    ``tables`` the rows of the batches' table artifacts by task run (a batched fan-out's
    items). A mission
    written as code has no spec: its shape comes from the step paths its runs recorded."""
    given = (root.parameters or {}).get("spec")
    if isinstance(given, str):  # a deployment run names a file, inlined when the run starts
        spec = MissionSpec.model_construct(name=given, steps=[])
    elif given is not None:
        spec = MissionSpec.model_validate(given)
    else:
        subflow_links = {r.parent_task_run_id for r in flow_runs if r.parent_task_run_id}
        spec = shape_of_code(root, [t for t in task_runs if t.id not in subflow_links])
    by_path: dict[str, list[TaskRunRecord]] = {}
    batches: dict[str, dict[str, list[TaskRunRecord]]] = {}
    for run in task_runs:
        by_path.setdefault(run.name, []).append(run)
        batch = BATCH.match(run.name)
        if batch:
            batches.setdefault(batch["base"], {}).setdefault(run.name, []).append(run)
    groups: dict[str, list[FlowRunRecord]] = {}
    for run in flow_runs:  # a group's run is named "<mission run>/<group path>"
        if run.id != root.id:
            groups.setdefault(run.name.removeprefix(f"{root.name}/"), []).append(run)
    state_name = root.state.name if root.state else "Unknown"
    ended = root.state is not None and root.state.is_final()

    def node(step: Step, path: str) -> StepStatus:
        status = StepStatus(path=path, id=step.id, kind=step.kind)
        children = step.child.steps if step.child else step.steps
        if step.for_each is not None and path in batches:
            status.children = batched_items(path, step.kind, batches[path], tables or {})
            from_task_runs(status, by_path.get(path, []))
            join(status, ended)
        elif step.for_each is not None:
            indices = _item_indices(path, by_path, groups)
            for i in indices:
                item_path = f"{path}[{i}]"
                item = StepStatus(path=item_path, id=f"{step.id}[{i}]", kind=step.kind)
                if children:
                    item.children = [node(c, f"{item_path}/{c.id}") for c in children]
                    from_flow_runs(item, groups.get(item_path, []))
                else:
                    from_task_runs(item, by_path.get(item_path, []))
                    if item_path in units:
                        item.children = turns(item_path, units[item_path], by_path, ended)
                status.children.append(item)
            from_task_runs(status, by_path.get(path, []))  # a skipped or failed-to-expand step
            if status.children:
                join(status, ended)
        elif step.agent == "planner":  # its plan's steps, as recorded when they ran
            from_task_runs(status, by_path.get(path, []))
            planned = outline(task_runs, path + "/")
            status.children = [node(c, f"{path}/{c.id}") for c in planned]
            failed = [c for c in status.children if c.state == "failed"]
            if failed:
                status.state, status.error = "failed", failed[0].error
        elif children:
            status.children = [node(c, f"{path}/{c.id}") for c in children]
            from_flow_runs(status, groups.get(path, []))
            if status.state == "pending":
                from_task_runs(status, by_path.get(path, []))
        else:
            from_task_runs(status, by_path.get(path, []))
            if path in units:
                status.children = turns(path, units[path], by_path, ended)
        return status

    units: dict[str, list[str]] = {}
    for name in by_path:
        match = UNIT.match(name)
        if match:
            units.setdefault(match["owner"], []).append(name)
    steps = [node(s, s.id) for s in spec.steps]
    if not ended:
        _mark_waiting(steps, {m["path"]: m for m in waiting or []})
    if root.state is not None and root.state.is_completed():
        _mark_done(steps)
    elif ended:
        _mark_blocked(steps)
    duration = _ran(root)
    waited = None
    if root.start_time is not None and duration is not None:
        until = root.end_time or datetime.now(UTC)
        waited = max(0.0, (until - root.start_time).total_seconds() - duration)
    return MissionStatus(
        run_id=str(root.id),
        name=root.name,
        mission=spec.name,
        state=state_name,
        started=root.start_time,
        duration=duration,
        message=_message(root, given),
        steps=steps,
        waited=waited,
    )


def _ran(root: FlowRunRecord) -> float | None:
    """Seconds the run has run: Prefect's run time, which counts a running stretch only once it
    ends, plus the one under way."""
    ran = root.total_run_time.total_seconds() if root.total_run_time else 0.0
    state = root.state
    if state is not None and state.is_running() and state.timestamp is not None:
        ran += max(0.0, (datetime.now(UTC) - state.timestamp).total_seconds())
    return ran if ran or root.start_time else None


def _message(root: FlowRunRecord, given: Any) -> str | None:
    if isinstance(given, str) and not (root.state and root.state.is_final()):
        return f"spec file {given!r}: not started yet"
    return root.state.message if root.state else None


def shape_of_code(root: FlowRunRecord, task_runs: list[TaskRunRecord]) -> MissionSpec:
    """A spec-shaped outline of a code mission from its step paths, in the order they started:
    ``a/b`` is step ``b`` of the sub-mission ``a``; compensations (``#``) are not steps, nor are
    the task runs that stand for subflows in their parent (leave those out of ``task_runs``)."""
    name = next((t.split(":", 1)[1] for t in root.tags or [] if t.startswith("mission:")), "code")
    return MissionSpec.model_construct(name=name, steps=outline(task_runs, ""))


def outline(task_runs: list[TaskRunRecord], prefix: str) -> list[Step]:
    """The steps under ``prefix`` that task runs were recorded for, in the order they started."""
    ordered = sorted(task_runs, key=lambda r: r.start_time or r.created or datetime.min)
    tree: dict[str, Any] = {}
    for run in ordered:
        if "#" in run.name or _ITEM.match(run.name) or not run.name.startswith(prefix):
            continue
        if UNIT.match(run.name):
            continue  # an agent step's units: shown under the step, not as steps
        node = tree
        for part in run.name.removeprefix(prefix).split("/"):
            node = node.setdefault(part, {})

    def steps(node: dict[str, Any]) -> list[Step]:
        return [
            Step.model_construct(id=key, steps=steps(child))
            if child
            else Step.model_construct(id=key, agent="echo")
            for key, child in node.items()
        ]

    return steps(tree)


def _item_indices(
    path: str, by_path: dict[str, list[TaskRunRecord]], groups: dict[str, list[FlowRunRecord]]
) -> list[int]:
    found: set[int] = set()
    for name in [*by_path, *groups]:
        match = _ITEM.match(name)
        if match and match["base"] == path:
            found.add(int(match["index"]))
    return sorted(found)


def _mark_done(nodes: list[StepStatus]) -> None:
    """A completed mission completed every step it did not skip. A step left without a final
    record (none, or a stale running one) completed in an attempt whose last records the server
    lost (states still queued when a process is killed are dropped) and was not run again."""
    for node in nodes:
        if node.state in ("pending", "running", "retrying"):
            node.state = "completed"
        _mark_done(node.children)


def _mark_waiting(nodes: list[StepStatus], markers: dict[str, dict[str, Any]]) -> None:
    for node in nodes:
        marker = markers.get(node.path)
        if marker is not None and not node.done and node.state != "failed":
            node.state = "waiting"
            node.waits_for = marker
        _mark_waiting(node.children, markers)


def _mark_blocked(nodes: list[StepStatus]) -> None:
    for node in nodes:
        if node.state == "pending":
            node.state = "not run"
        _mark_blocked(node.children)
