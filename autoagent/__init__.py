"""AutoAgent: long multi-agent missions on Prefect, durable across crashes.

Missions as code: ``@mission``, ``@step`` / ``step(...)``, ``sub_mission``, ``run``, ``run_spec``;
LLM agents: ``Agent(...)``, ``Tool(...)`` and ``@tool`` functions, ``agent.run(prompt)``;
waits: ``approval``, ``event`` and ``wait`` (a deployed mission suspends at them); answers:
``approve`` and ``signal``; from a notebook: ``problems``, ``start``, ``report``. The CLI
(``autoagent``) runs, inspects and answers missions written as specs or code.

The names load on first use: importing Prefect costs ~2.5 s, and ``autoagent validate``, the spec
tooling and ``autoagent --help`` need none of it (PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoagent.agents.python import tool
    from autoagent.api.answers import approve, signal
    from autoagent.api.llm_agents import Agent, Tool
    from autoagent.api.missions import mission, run, run_spec, sub_mission
    from autoagent.api.notebook import Report, Running, problems, report, start
    from autoagent.api.runs import Finished
    from autoagent.api.steps import StepFunction, step
    from autoagent.api.waits import approval, event, wait

_HOMES = {
    "Agent": "autoagent.api.llm_agents",
    "Tool": "autoagent.api.llm_agents",
    "tool": "autoagent.agents.python",
    "Finished": "autoagent.api.runs",
    "StepFunction": "autoagent.api.steps",
    "mission": "autoagent.api.missions",
    "run": "autoagent.api.missions",
    "run_spec": "autoagent.api.missions",
    "step": "autoagent.api.steps",
    "sub_mission": "autoagent.api.missions",
    "approval": "autoagent.api.waits",
    "event": "autoagent.api.waits",
    "wait": "autoagent.api.waits",
    "Report": "autoagent.api.notebook",
    "Running": "autoagent.api.notebook",
    "problems": "autoagent.api.notebook",
    "report": "autoagent.api.notebook",
    "start": "autoagent.api.notebook",
    "approve": "autoagent.api.answers",
    "signal": "autoagent.api.answers",
}

__all__ = [
    "Agent",
    "Finished",
    "Report",
    "Running",
    "StepFunction",
    "Tool",
    "approval",
    "approve",
    "event",
    "mission",
    "problems",
    "report",
    "run",
    "run_spec",
    "signal",
    "start",
    "step",
    "sub_mission",
    "tool",
    "wait",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'autoagent' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
