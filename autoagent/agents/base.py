"""The agent protocol: what every unit of work implements.

An agent has a name, a pydantic input model, an output model, ``idempotent`` and ``run(ctx, input)``
(sync or async). Agents never retry on their own: the step's retry policy is the one layer that
retries. They raise ``StepError`` subclasses whose ``kind`` ``retry_on`` selects.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict


class AgentInput(BaseModel):
    """Base for agent inputs: unknown fields are a validation error."""

    model_config = ConfigDict(extra="forbid")


class AgentOutput(BaseModel):
    """Base for agent outputs: JSON-serialisable, persisted as the step's result."""

    model_config = ConfigDict(extra="allow")


@dataclass
class AgentContext:
    """What an agent may know about the step it runs for."""

    mission: str
    step_path: str
    run_id: str = ""
    attempt: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    """The mission's params, for agents that write steps: a planner checks its plan against
    them (filled in for planner steps only)."""
    process_run_id: str = ""
    """The flow run whose process runs this attempt: the mission's, or the child run of a
    ``runs_on`` step. Process groups the agent leaves behind belong to it (autoagent.processes)."""
    timeout: float | None = None
    started: float = field(default_factory=time.monotonic)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("autoagent.agent"))

    def remaining(self) -> float | None:
        """Seconds left before the step's timeout, or None when it has none."""
        if self.timeout is None:
            return None
        return max(0.0, self.timeout - (time.monotonic() - self.started))


@runtime_checkable
class Agent(Protocol):
    name: ClassVar[str]
    input_model: ClassVar[type[BaseModel]]
    output_model: ClassVar[type[BaseModel] | None]
    idempotent: ClassVar[bool]
    error_kinds: ClassVar[frozenset[str]]

    def run(self, ctx: AgentContext, input: Any) -> Any: ...


class BaseAgent:
    """Convenience base: subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str] = ""
    input_model: ClassVar[type[BaseModel]] = AgentInput
    output_model: ClassVar[type[BaseModel] | None] = None
    idempotent: ClassVar[bool] = False
    error_kinds: ClassVar[frozenset[str]] = frozenset()

    def run(self, ctx: AgentContext, input: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError
