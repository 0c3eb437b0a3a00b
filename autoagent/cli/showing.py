"""``autoagent status``: a run's tree read over the REST API, without importing Prefect
(autoagent.server.reader says why)."""

from __future__ import annotations

from autoagent.cli.output import out
from autoagent.cli.render import answer_lines, status_tree
from autoagent.server import materializations, status
from autoagent.server.reader import Reader, open_reader
from autoagent.spec import MissionSpec
from autoagent.spec.lineage import planned_lineage


def print_status(run_id: str) -> None:
    """The run's tree of groups and steps, its assets, and how to answer what waits."""
    with open_reader() as reader:
        snapshot = status.read(reader, run_id)
        out.print(status_tree(snapshot.status))
        _print_lineage(reader, snapshot)
    lines = answer_lines(snapshot.status)
    if lines:
        out.print("to answer:", style="bold")
        for line in lines:
            out.print(f"  {line}", markup=False, soft_wrap=True)


def _print_lineage(reader: Reader, snapshot: status.Snapshot) -> None:
    """The assets the mission materializes and what each is built from (no OSS lineage view)."""
    spec = snapshot.root.parameters.get("spec")
    if isinstance(spec, str):  # a deployment run not started yet: nothing built
        return
    planned = planned_lineage(MissionSpec.model_validate(spec)) if spec else {}
    # a spec mission without asset steps records none: ask the server only when there may be some
    ids = [r.id for r in snapshot.flow_runs]
    found = materializations.recorded(reader, ids) if planned or not spec else []
    if planned or found:
        out.print("assets (lineage):", style="bold")
        for line in materializations.lineage_lines(planned, found):
            out.print(f"  {line}", markup=False, soft_wrap=True)
