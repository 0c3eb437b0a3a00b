"""What the server records of a mission's runs, as AutoAgent reads them back to show them.

Plain pydantic models of the REST API's flow runs, task runs and states (the fields that status,
list and reports use), read by ``autoagent.server.reader`` without Prefect's client: the commands
that only look at runs never pay for importing Prefect.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from autoagent.errors import AutoAgentError

MISSION_FLOW = "mission"
"""The flow of every mission written as a spec (autoagent.engine.mission)."""
MISSION_TAG = "autoagent"
"""Every root mission run carries it (and ``mission:<name>``): ``autoagent list`` finds missions
written as code by it, and crash detection judges such runs from their ``Running``."""

VERSION_KEY = "autoagent-version"
"""The run input holding the code a mission written as code began on (engine/versions.py)."""


class StateType(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


FINAL = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED})


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class StateRecord(_Record):
    id: UUID | None = None
    type: StateType
    name: str | None = None
    message: str | None = None
    timestamp: datetime | None = None
    state_details: dict[str, Any] = Field(default_factory=dict)

    def is_final(self) -> bool:
        return self.type in FINAL

    def is_completed(self) -> bool:
        return self.type == StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type == StateType.FAILED

    def is_paused(self) -> bool:
        return self.type == StateType.PAUSED

    def is_running(self) -> bool:
        return self.type == StateType.RUNNING

    def is_scheduled(self) -> bool:
        return self.type == StateType.SCHEDULED


class _Run(_Record):
    id: UUID
    name: str
    state: StateRecord | None = None
    created: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    total_run_time: timedelta = timedelta(0)
    run_count: int = 0


class FlowRunRecord(_Run):
    """A mission run, or one of its group or child runs."""

    flow_id: UUID | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    parent_task_run_id: UUID | None = None
    deployment_id: UUID | None = None
    infrastructure_pid: str | None = None


class TaskRunRecord(_Run):
    """A step's attempt (or the cached answer of one), named by the step path."""

    flow_run_id: UUID | None = None


def mission_name(flow_run: FlowRunRecord) -> str:
    """The mission a run runs: its spec's name, or the ``mission:`` tag of a code mission."""
    spec = flow_run.parameters.get("spec")
    if isinstance(spec, dict) and spec.get("name"):
        return str(spec["name"])
    if isinstance(spec, str):
        return spec  # a deployment run not started yet names its spec file
    tagged = [t.split(":", 1)[1] for t in flow_run.tags if t.startswith("mission:")]
    return tagged[0] if tagged else "?"


def parse_run_id(run_id: str) -> UUID:
    """A run id as typed by a user; AutoAgentError (bad input) when it is not one."""
    try:
        return UUID(str(run_id))
    except ValueError:
        raise AutoAgentError(f"{run_id!r} is not a run id (a UUID; see `autoagent list`)") from None
