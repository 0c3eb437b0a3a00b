"""Running missions in-process for tests, and reading back what the server recorded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect.client.schemas.objects import FlowRun
from prefect.states import State

from autoagent import runs, status
from autoagent.reader import open_reader
from autoagent.spec import MissionSpec, validate_data
from flows import outcomes


@dataclass
class MissionRun:
    flow_run: FlowRun
    state: State
    status: status.MissionStatus

    @property
    def id(self) -> str:
        return str(self.flow_run.id)

    def step(self, path: str) -> status.StepStatus:
        found = self.status.find(path)
        assert found is not None, f"no step {path!r} in {[s.path for s in self.status.walk()]}"
        return found

    def outputs(self) -> dict[str, Any]:
        return {p: o.output for p, o in outcomes.records.get(self.id, {}).items()}


def read_status(run_id: str) -> status.MissionStatus:
    with open_reader() as reader:
        return status.read(reader, run_id).status


def run_mission(data: dict[str, Any], params: dict[str, Any] | None = None) -> MissionRun:
    return run_loaded(validate_data(data), params)


def run_loaded(spec: MissionSpec, params: dict[str, Any] | None = None) -> MissionRun:
    flow_run = runs.start(spec, params or {})
    state = runs.execute(flow_run)
    finished = {
        o.prefect_state.state_details.task_run_id
        for o in outcomes.records.get(str(flow_run.id), {}).values()
        if o.prefect_state is not None
    }
    assert runs.wait_for_records(flow_run.id, finished, 30)
    return MissionRun(flow_run, state, read_status(str(flow_run.id)))
