"""AutoAgent: long multi-agent missions on Prefect, durable across crashes.

Missions as code: ``@mission``, ``@step`` / ``step(...)``, ``sub_mission``, ``run_spec``; waits:
``approval``, ``event`` and ``wait`` (a deployed mission suspends at them); answers: ``approve``
and ``signal``. The CLI (``autoagent``) runs, inspects and answers missions written as specs or
code.
"""

from autoagent.code import Finished, Step, mission, run_spec, step, sub_mission
from autoagent.helpers import approval, event, wait
from autoagent.waits import approve, signal

__all__ = [
    "Finished",
    "Step",
    "approval",
    "approve",
    "event",
    "mission",
    "run_spec",
    "signal",
    "step",
    "sub_mission",
    "wait",
]
