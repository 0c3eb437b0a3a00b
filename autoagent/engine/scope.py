"""Where a scheduler runs: the mission's root run, the path prefix of its group, and what the
expressions of its steps see (params, earlier outputs, the ``for_each`` item).

A group or child mission runs as a subflow in the same process; its scope is handed to it in its
caller's context (engine/mission.py), not in the subflow's parameters, so the run graph draws no
edge from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoagent.spec import Defaults
from autoagent.spec.agents import AgentDefinition

NO_ITEM = object()
"""The item of a scope that is not inside a for_each."""


@dataclass(frozen=True)
class Scope:
    """Where a scheduler runs: the root run, the path prefix, and what expressions can see."""

    mission: str
    root_run_id: str
    params: dict[str, Any]
    defaults: Defaults
    prefix: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    item: Any = NO_ITEM
    resuming: bool = False
    auto_approve: bool = False
    suspends: bool = False  # a deployed run: waits end the process instead of holding it
    run_name: str = ""
    """The root run's name: a group's run is named ``<run name>/<group path>``."""
    tags: tuple[str, ...] = ()
    """The root run's tags, which its group runs carry too."""
    agents: dict[str, AgentDefinition] = field(default_factory=dict)
    """The mission's LLM agents, which its steps name ahead of registered agents."""
