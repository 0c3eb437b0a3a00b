"""The generic mission runner: one validated spec, one Prefect flow run.

Thin on purpose: the flow validates its parameters, hands the steps to the scheduler and turns
failed steps into a failed run. Groups and child missions are subflows of the same shape.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.context import FlowRunContext
from prefect.runtime import flow_run as current_run

from autoagent import heartbeat, limits
from autoagent.errors import MissionFailed, SpecError
from autoagent.runs import inline_spec, validated_spec
from autoagent.spec import Step
from flows import sagas
from flows.outcomes import Scope
from flows.report import publish_report
from flows.scheduler import Scheduler, failures
from flows.suspend import suspends
from tasks import remote


def _ran_before(flow_run: Any) -> bool:
    """A resume, a retry, or a deployed run back from a suspension or a timer: read what earlier
    attempts recorded before running anything (run_count stays 1 across a suspension)."""
    return (
        flow_run.run_count > 1
        or flow_run.empirical_policy.resuming
        or flow_run.deployment_id is not None
    )


def _group_run_name() -> str:
    scope = current_run.parameters.get("scope") or {}
    return scope.get("prefix", "group/").rstrip("/")


@flow(
    name="mission",
    persist_result=False,
    validate_parameters=False,
    log_prints=True,
)
def mission(
    spec: dict[str, Any] | str, params: dict[str, Any] | None = None, auto_approve: bool = False
) -> dict[str, Any]:
    """Run a mission spec: inline, or the path of a spec file in the working directory (it is
    inlined into the run's parameters first). ``params`` override the spec's param defaults;
    ``auto_approve`` answers every approval with its defaults (tests and demos)."""
    run_context = FlowRunContext.get()
    assert run_context is not None and run_context.flow_run is not None
    if isinstance(spec, str):
        spec = inline_spec(run_context.flow_run, spec)
    validated = validated_spec(run_context.flow_run.id, spec)
    remote.check_pools(validated)
    limits.ensure(validated)  # idempotent: the limits its steps name exist with their size
    unknown = sorted(set(params or {}) - set(validated.params))
    if unknown:
        raise SpecError.for_params(validated.name, unknown, sorted(validated.params))
    root = str(run_context.flow_run.id)
    scope = Scope(
        mission=validated.name,
        root_run_id=root,
        params={**validated.params, **(params or {})},
        defaults=validated.defaults,
        resuming=_ran_before(run_context.flow_run),
        auto_approve=auto_approve,
        suspends=suspends(run_context.flow_run),
    )
    with heartbeat.unless_on(run_context.flow_run, "mission"):
        outcomes = Scheduler(scope, _run_group).run(validated.steps)
    bad = failures(outcomes)
    if bad:
        undone = sagas.compensate_all(scope)
        publish_report(validated, root)
        raise MissionFailed(f"mission {validated.name!r}", bad, undone)
    sagas.forget(scope)
    publish_report(validated, root)
    return {sid: o.output for sid, o in outcomes.items()}


@flow(
    name="group",
    flow_run_name=_group_run_name,
    persist_result=False,
    validate_parameters=False,
    log_prints=True,
)
def group(steps: list[dict[str, Any]], scope: dict[str, Any]) -> dict[str, Any]:
    """Run the steps of a group (or of a child mission) as one subflow."""
    inner = Scope.from_json(scope)
    models = [Step.model_validate(s) for s in steps]
    outcomes = Scheduler(inner, _run_group).run(models)
    bad = failures(outcomes)
    if bad:
        raise MissionFailed(f"group {inner.prefix.rstrip('/')!r}", bad)
    return {sid: o.output for sid, o in outcomes.items()}


def _run_group(step: Step, scope: Scope) -> dict[str, Any]:
    steps = step.child.steps if step.child is not None else step.steps or []
    return group(steps=[s.model_dump(mode="json") for s in steps], scope=scope.to_json())


__all__ = ["MissionFailed", "group", "mission"]
