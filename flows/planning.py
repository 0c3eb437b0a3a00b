"""Running a planner's plan: validated like any spec, then a sub-mission under the planner.

The planner step's task persists the plan (its output), so a resumed mission reads the same plan
instead of planning again; the plan's steps run as a group at ``<planner path>/<step id>`` and are
cache hits on a resume like any other step. The planner step's output becomes ``{"steps": the
plan, "outputs": each planned step's output by id}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autoagent.agents.planner import validated_plan
from autoagent.errors import PlanError
from autoagent.spec import Step
from flows.outcomes import COMPLETED, FAILED, Outcome

if TYPE_CHECKING:
    from flows.scheduler import Scheduler

PLANNER = "planner"


def run_plan(scheduler: Scheduler, step: Step, path: str, item: Any, planned: Outcome) -> Outcome:
    """Run the planner step's plan as a group; the step's final outcome. The planner validated
    the plan before its result was persisted: this reads the steps back as models."""
    scope = scheduler.scope
    try:
        steps = validated_plan(scope.mission, path, scope.params, planned.output)
    except PlanError as exc:  # a plan persisted by an older version's rules
        return Outcome(path, FAILED, error=str(exc), kind="plan")
    group = step.model_copy(update={"agent": None, "input": None, "steps": steps})
    ran = scheduler.group_unit(group, path, item)
    if ran.state != COMPLETED:
        return ran
    output = {"steps": planned.output["steps"], "outputs": ran.output}
    return Outcome(path, COMPLETED, output=output, cached=planned.cached and ran.cached)
