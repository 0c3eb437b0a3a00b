"""Running missions in-process for tests, and reading back what the server recorded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect.client.schemas.objects import FlowRun
from prefect.states import State

from autoagent.api import runs
from autoagent.api.runs import Finished
from autoagent.server import status
from autoagent.spec import MissionSpec, validate_data


@dataclass
class MissionRun:
    flow_run: FlowRun
    finished: Finished
    status: status.MissionStatus

    @property
    def state(self) -> State:
        return self.finished.state

    @property
    def id(self) -> str:
        return str(self.flow_run.id)

    def step(self, path: str) -> status.StepStatus:
        found = self.status.find(path)
        assert found is not None, f"no step {path!r} in {[s.path for s in self.status.walk()]}"
        return found

    def outputs(self) -> dict[str, Any]:
        return {p: o.output for p, o in self.finished.outcomes.items()}


def read_status(run_id: str) -> status.MissionStatus:
    return status.load(run_id).status


def run_mission(data: dict[str, Any], params: dict[str, Any] | None = None) -> MissionRun:
    return run_loaded(validate_data(data), params)


def run_loaded(spec: MissionSpec, params: dict[str, Any] | None = None) -> MissionRun:
    flow_run = runs.create(spec, params or {})
    finished = runs.execute(flow_run, spec=spec)
    assert runs.wait_for_records(flow_run.id, finished.journal.task_run_ids(), 30)
    return MissionRun(flow_run, finished, read_status(str(flow_run.id)))
