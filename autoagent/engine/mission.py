"""The spec runner: one validated spec, one Prefect flow run; groups and child missions are
subflows of the same shape.

Thin on purpose: the flow takes the spec (validated by whoever drives the run here, else now),
hands the steps to the scheduler, and turns failed steps into compensations, a report and a
failed run. What it did goes into the run's journal, which its driver reads (engine/driving.py).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from prefect import Flow, flow
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.runtime import flow_run as current_run
from prefect.settings import PREFECT_API_URL

from autoagent.engine import limits, remote
from autoagent.engine.compensation import compensate_all
from autoagent.engine.driving import heartbeat_unless_driven, local_run
from autoagent.engine.journal import Journal, current_journal, journaling
from autoagent.engine.outcome import BLOCKED, FAILED, Outcome
from autoagent.engine.report import publish_report
from autoagent.engine.scheduler import Scheduler
from autoagent.engine.scope import Scope
from autoagent.engine.storage import result_storage
from autoagent.engine.suspend import suspends
from autoagent.errors import MissionFailed
from autoagent.server.client import client
from autoagent.server.records import MISSION_FLOW
from autoagent.spec import MissionSpec, Step
from autoagent.spec.validate import load, validate_data


def check_runnable(spec: MissionSpec, params: dict[str, Any]) -> None:
    """What must hold before a mission runs, beyond its spec: every param given is declared, and
    every work pool a step runs on has its deployment on this server."""
    spec.check_params(params)
    remote.check_pools(spec)


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


@flow(name=MISSION_FLOW, persist_result=False, validate_parameters=False, log_prints=True)
def mission(
    spec: dict[str, Any] | str, params: dict[str, Any] | None = None, auto_approve: bool = False
) -> dict[str, Any]:
    """Run a mission spec: inline, or the path of a spec file in the working directory (it is
    inlined into the run's parameters first). ``params`` override the spec's param defaults;
    ``auto_approve`` answers every approval with its defaults (tests and demos)."""
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    flow_run = context.flow_run
    driver = local_run()
    if driver is not None and driver.flow_run_id != flow_run.id:
        driver = None  # the process drives another run, which runs this one as a subflow
    if driver is not None and driver.spec is not None:
        validated = driver.spec  # validated and checked by the driver that created the run
    else:
        validated = validate_data(inline_spec(flow_run, spec) if isinstance(spec, str) else spec)
        check_runnable(validated, params or {})
    limits.ensure(validated)  # idempotent: the limits its steps name exist with their size
    journal = driver.journal if driver is not None else Journal()
    root = str(flow_run.id)
    scope = Scope(
        mission=validated.name,
        root_run_id=root,
        params={**validated.params, **(params or {})},
        defaults=validated.defaults,
        resuming=_ran_before(flow_run),
        auto_approve=auto_approve,
        suspends=suspends(flow_run),
    )
    with heartbeat_unless_driven(flow_run, MISSION_FLOW), journaling(journal):
        outcomes = Scheduler(scope, journal, run_group).run(validated.steps)
        bad = failures(outcomes)
        undos = journal.take_undos()  # taken either way: a mission that completed undoes nothing
        undone = compensate_all(root, undos) if bad else []
    publish_report(validated, journal, background=driver is not None)
    if bad:
        raise MissionFailed(f"mission {validated.name!r}", bad, undone)
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
    journal = current_journal() or Journal()  # its mission's, in the same process
    models = [Step.model_validate(s) for s in steps]
    with journaling(journal):
        outcomes = Scheduler(inner, journal, run_group).run(models)
    bad = failures(outcomes)
    if bad:
        raise MissionFailed(f"group {inner.prefix.rstrip('/')!r}", bad)
    return {sid: o.output for sid, o in outcomes.items()}


def run_group(step: Step, scope: Scope) -> dict[str, Any]:
    """Run a group step (or a child mission, or a planner's plan) as a subflow in ``scope``."""
    steps = step.child.steps if step.child is not None else step.steps or []
    return group(steps=[s.model_dump(mode="json") for s in steps], scope=scope.to_json())


def failures(outcomes: dict[str, Outcome]) -> list[Outcome]:
    return [o for o in outcomes.values() if o.state in (FAILED, BLOCKED)]


def inline_spec(flow_run: FlowRun, path: str) -> dict[str, Any]:
    """Load a spec file named by a run's ``spec`` parameter and put the spec itself in the run's
    parameters, so status, resume and any other machine see the mission without the file."""
    spec = load(path).model_dump(mode="json", exclude_none=True)
    parameters = {**flow_run.parameters, "spec": spec}
    with client() as prefect:
        prefect.update_flow_run(flow_run.id, parameters=parameters)
    flow_run.parameters = parameters
    return spec


def spec_runner() -> Flow[..., dict[str, Any]]:
    """The spec runner flow persisting to the current server's results block."""
    return _runner_for(str(PREFECT_API_URL.value()))


@lru_cache(maxsize=8)
def _runner_for(api_url: str) -> Flow[..., dict[str, Any]]:
    return mission.with_options(result_storage=result_storage())
