"""AutoAgent: long multi-agent missions on Prefect, durable across crashes.

Missions as code: ``@mission``, ``@step`` / ``step(...)``, ``sub_mission``, ``run``, ``run_spec``;
waits: ``approval``, ``event`` and ``wait`` (a deployed mission suspends at them); answers:
``approve`` and ``signal``; from a notebook: ``problems``, ``start``, ``report``. The CLI
(``autoagent``) runs, inspects and answers missions written as specs or code.
"""

from autoagent.code import Finished, Step, mission, run, run_spec, step, sub_mission
from autoagent.helpers import approval, event, wait
from autoagent.interactive import Report, Running, problems, report, start
from autoagent.waits import approve, signal

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
