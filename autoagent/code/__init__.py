"""Missions as Python code: ``@mission``, ``@step`` / ``step(...)``, ``sub_mission``, ``run_spec``.

A ``@mission`` is a Prefect flow with AutoAgent's durable defaults; its steps are Prefect tasks
whose results persist on the saved results block under the same key a spec step gets: the root
mission run id, the step path and a hash of the step's input. So a retried or resumed run on the
same flow run id finds every completed step and runs none of them again, and the body must be
deterministic (design.md section 2): side effects belong in steps.

    @step(retries=3, retry_on=["http_status"])
    def fetch(url: str) -> dict: ...

    @mission
    def release(topic: str) -> dict:
        page = fetch("https://example.org")                 # path "fetch"
        text = step("shout", agent="shell", input={"command": f"echo {topic}"})
        approval("Ship it?")
        return sub_mission("examples/child.yaml", params={"topic": topic})
"""

from autoagent.code.missions import (
    ENTRYPOINT_KEY,
    Finished,
    mission,
    run,
    run_spec,
    sub_mission,
)
from autoagent.code.scope import MissionScope, current_scope
from autoagent.code.steps import Step, step

__all__ = [
    "ENTRYPOINT_KEY",
    "Finished",
    "MissionScope",
    "Step",
    "current_scope",
    "mission",
    "run",
    "run_spec",
    "step",
    "sub_mission",
]
