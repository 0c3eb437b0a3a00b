"""AutoAgent: long multi-agent missions on Prefect, durable across crashes.

Missions as code: ``@mission``, ``@step`` / ``step(...)``, ``sub_mission``, ``run``, ``run_spec``;
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
    from autoagent.code import Finished, Step, mission, run, run_spec, step, sub_mission
    from autoagent.helpers import approval, event, wait
    from autoagent.interactive import Report, Running, problems, report, start
    from autoagent.waits import approve, signal

_HOMES = {
    "Finished": "autoagent.code",
    "Step": "autoagent.code",
    "mission": "autoagent.code",
    "run": "autoagent.code",
    "run_spec": "autoagent.code",
    "step": "autoagent.code",
    "sub_mission": "autoagent.code",
    "approval": "autoagent.helpers",
    "event": "autoagent.helpers",
    "wait": "autoagent.helpers",
    "Report": "autoagent.interactive",
    "Running": "autoagent.interactive",
    "problems": "autoagent.interactive",
    "report": "autoagent.interactive",
    "start": "autoagent.interactive",
    "approve": "autoagent.waits",
    "signal": "autoagent.waits",
}

__all__ = [
    "Finished",
    "Report",
    "Running",
    "Step",
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
