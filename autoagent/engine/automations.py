"""One command that makes a Prefect server safe for long missions (`autoagent server setup`):

- crash detection: an automation marks a flow run Crashed when no event of it (heartbeat or state
  change) arrives for ``silence`` seconds after a heartbeat. A second one does the same after a
  mission's ``Running`` (runs tagged ``autoagent``, which heartbeat from their first second): a
  process killed before its first heartbeat reached the server would otherwise stay Running
  forever. Untagged flows are only judged after a heartbeat, so a flow without heartbeats is
  never taken for dead. A paused run still heartbeats, the process of a suspended or rescheduled
  one says last that it left it (liveness.RELEASED: it may have beaten after the state change
  while it finished its other steps), and a run that just completed cannot be marked Crashed
  (the server refuses to leave a final state without force, and the action does not force);
- capped automatic resume: an automation runs the ``recover/recover`` deployment for every
  crashed deployed run (engine/recover.py): same flow run id, backoff, a cap, then Failed. The
  recovery flow is deployed by its module path, so a worker needs AutoAgent installed, no checkout.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState, RunDeployment
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.types.entrypoint import EntrypointType

from autoagent.engine.recover import recover
from autoagent.server.client import client
from autoagent.server.liveness import DETECTION, RELEASED
from autoagent.server.records import MISSION_TAG

EARLY_DETECTION = "autoagent: crash detection before a first heartbeat"
RECOVERY = "autoagent: resume crashed runs"


def setup(pool: str, silence: float, max_resumes: int, base_seconds: float) -> dict[str, Any]:
    """Install (or replace) the recovery deployment and the automations; what was installed."""
    deployment_id = recover.deploy(
        name="recover",
        work_pool_name=pool,
        parameters={"max_resumes": max_resumes, "base_seconds": base_seconds},
        entrypoint_type=EntrypointType.MODULE_PATH,
        print_next_steps=False,
        ignore_warnings=True,
    )
    detection = _detection(DETECTION, {"prefect.flow-run.heartbeat"}, silence)
    early = _detection(
        EARLY_DETECTION,
        {"prefect.flow-run.Running"},
        silence,
        match_related={"prefect.resource.id": f"prefect.tag.{MISSION_TAG}"},
    )
    recovery = AutomationCore(
        name=RECOVERY,
        description=f"Resume crashed deployed runs, at most {max_resumes} times each.",
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "deployment"},
            expect={"prefect.flow-run.Crashed"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment_id,
                parameters={
                    "flow_run_id": {"__prefect_kind": "jinja", "template": "{{ flow_run.id }}"}
                },
            )
        ],
    )
    with client() as prefect:
        for automation in (detection, early, recovery):
            for existing in prefect.read_automations_by_name(automation.name):
                prefect.delete_automation(existing.id)
            prefect.create_automation(automation)
    names = [DETECTION, EARLY_DETECTION, RECOVERY]
    return {"recover_deployment": str(deployment_id), "automations": names}


def _detection(
    name: str, after: set[str], silence: float, match_related: dict[str, str] | None = None
) -> Any:
    """An automation that marks a flow run Crashed when, after one of ``after``, none of its
    events arrives for ``silence`` seconds."""
    return AutomationCore(
        name=name,
        description=f"A flow run silent for {silence:g}s after {' or '.join(sorted(after))}"
        " is Crashed.",
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=match_related or {},
            after=after,
            expect={"prefect.flow-run.*", RELEASED},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=silence),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {silence:g}s: its process or machine died",
            )
        ],
    )
