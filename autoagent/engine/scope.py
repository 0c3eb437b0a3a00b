"""Where a scheduler runs: the mission's root run, the path prefix of its group, and what the
expressions of its steps see (params, earlier outputs, the ``for_each`` item).

A group or child mission runs as a subflow, so its scope travels as JSON in the subflow's
parameters (``to_json``/``from_json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoagent.spec import Defaults

NO_ITEM = object()
"""The item of a scope that is not inside a for_each."""


@dataclass
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

    def to_json(self) -> dict[str, Any]:
        data = {
            "mission": self.mission,
            "root_run_id": self.root_run_id,
            "params": self.params,
            "defaults": self.defaults.model_dump(mode="json"),
            "prefix": self.prefix,
            "outputs": self.outputs,
            "resuming": self.resuming,
            "auto_approve": self.auto_approve,
            "suspends": self.suspends,
        }
        if self.item is not NO_ITEM:
            data["item"] = self.item
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scope:
        return cls(
            mission=data["mission"],
            root_run_id=data["root_run_id"],
            params=data["params"],
            defaults=Defaults.model_validate(data["defaults"]),
            prefix=data.get("prefix", ""),
            outputs=data.get("outputs", {}),
            item=data.get("item", NO_ITEM),
            resuming=data.get("resuming", False),
            auto_approve=data.get("auto_approve", False),
            suspends=data.get("suspends", False),
        )
