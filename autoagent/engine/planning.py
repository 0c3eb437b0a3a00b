"""Running a planner's plan: validated like any spec, then a sub-mission under the planner.

The planner step's task persists the plan (its output), so a resumed mission reads the same plan
instead of planning again; the plan's steps run as a group at ``<planner path>/<step id>`` and are
cache hits on a resume like any other step. The planner step's output becomes ``{"steps": the
plan, "outputs": each planned step's output by id}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autoagent.engine.outcome import COMPLETED, FAILED, Outcome
from autoagent.engine.scope import Scope
from autoagent.errors import PlanError
from autoagent.planner import PlannerAgent, validated_plan
from autoagent.spec import Step

PLANNER = PlannerAgent.name

GroupUnit = Callable[[Step, str, Any], Outcome]
"""Runs a group step at a path (with the item of its for_each): the scheduler's ``group_unit``."""


def run_plan(
    scope: Scope, run_group: GroupUnit, step: Step, path: str, item: Any, planned: Outcome
) -> Outcome:
    """Run the planner step's plan as a group; the step's final outcome. The planner validated
    the plan before its result was persisted: this reads the steps back as models."""
    try:
        steps = validated_plan(scope.mission, path, scope.params, planned.output)
    except PlanError as exc:  # a plan persisted by an older version's rules
        return Outcome(path, FAILED, error=str(exc), kind="plan")
    group = step.model_copy(update={"agent": None, "input": None, "steps": steps})
    ran = run_group(group, path, item)
    if ran.state != COMPLETED:
        return ran
    output = {"steps": planned.output["steps"], "outputs": ran.output}
    return Outcome(path, COMPLETED, output=output, cached=planned.cached and ran.cached)
