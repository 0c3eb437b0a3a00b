"""The spec runner: one validated spec, one Prefect flow run; groups and child missions are
subflows of the same shape.

Thin on purpose: the flow takes the spec (validated by whoever drives the run here, else now),
hands the steps to the scheduler, and turns failed steps into compensations, a report and a
failed run. What it did goes into the run's journal, which its driver reads (engine/driving.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from prefect import Flow, flow, tags
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.exceptions import Pause
from prefect.settings import PREFECT_API_URL
from prefect.states import State

from autoagent.engine import limits, narrate, remote
from autoagent.engine.compensation import compensate_all
from autoagent.engine.driving import heartbeat_unless_driven, local_run
from autoagent.engine.graph import Link
from autoagent.engine.journal import Journal, current_journal, journaling
from autoagent.engine.outcome import BLOCKED, FAILED, WAITING, Outcome
from autoagent.engine.report import publish_report
from autoagent.engine.scheduler import Scheduler
from autoagent.engine.scope import Scope
from autoagent.engine.storage import result_storage
from autoagent.engine.suspend import suspends
from autoagent.errors import MissionFailed
from autoagent.server.client import client
from autoagent.server.records import MISSION_FLOW
from autoagent.server.tags import mission_tags, param_tags, spec_of, spec_tag
from autoagent.spec import MissionSpec, Step
from autoagent.spec.validate import load, validate_data


def check_runnable(spec: MissionSpec, params: dict[str, Any]) -> None:
    """What must hold before a mission runs, beyond its spec: every param given is declared, and
    every work pool a step runs on has its deployment on this server."""
    spec.check_params(params)
    remote.check_pools(spec)


def _report_when_waiting(
    spec: MissionSpec, journal: Journal, background: bool
) -> Callable[[Outcome], None]:
    """A journal listener: when a step starts waiting for someone, the report says so."""

    def listener(outcome: Outcome) -> None:
        if outcome.state == WAITING:
            publish_report(spec, journal, background=background)

    return listener


def _tagged(flow_run: FlowRun, mission_name: str, params: dict[str, Any], spec: Any) -> None:
    """Add the mission's tags, its spec's version and its params' summary to the run's (a run
    from a deployment lacks them): crash detection and ``autoagent list`` find mission runs by
    them, the UI's filters too."""
    tags = flow_run.tags or []
    versioned = isinstance(spec, dict) and spec_of(tags) is None  # `create` tagged it already
    wanted = sorted(
        {
            *tags,
            *mission_tags(mission_name),
            *([spec_tag(spec)] if versioned else []),
            *param_tags(params),
        }
    )
    if set(wanted) != set(flow_run.tags or []):
        with client() as prefect:
            prefect.update_flow_run(flow_run.id, tags=wanted)
        flow_run.tags = wanted


def _ran_before(flow_run: Any) -> bool:
    """A resume, a retry, or a deployed run back from a suspension or a timer: read what earlier
    attempts recorded before running anything (run_count stays 1 across a suspension)."""
    return (
        flow_run.run_count > 1
        or flow_run.empirical_policy.resuming
        or flow_run.deployment_id is not None
    )


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
        run_name=flow_run.name,
        tags=tuple(mission_tags(validated.name)),  # its steps' (the user's stay on the run)
        agents=dict(validated.agents),
    )
    _tagged(flow_run, validated.name, params or {}, flow_run.parameters.get("spec"))
    background = driver is not None
    journal.listen(_report_when_waiting(validated, journal, background))
    if flow_run.run_count > 1 or flow_run.empirical_policy.resuming:
        why = "after a crash, a failure or a cancel" if flow_run.run_count > 1 else "after a wait"
        narrate.ran_again(root, flow_run.run_count, why)
    with heartbeat_unless_driven(flow_run, MISSION_FLOW), journaling(journal):
        try:
            outcomes = Scheduler(scope, journal, run_group).run(validated.steps)
        except Pause:  # a deployed run waits with no process: the report says where it stands
            publish_report(validated, journal, state="Paused")
            raise
        bad = failures(outcomes)
        undos = journal.take_undos()  # taken either way: a mission that completed undoes nothing
        undone = compensate_all(root, undos) if bad else []
    ending = "Failed" if bad else "Completed"
    publish_report(validated, journal, background=background, state=ending)
    if bad:
        raise MissionFailed(f"mission {validated.name!r}", bad, undone)
    return {sid: o.output for sid, o in outcomes.items()}


@dataclass(frozen=True)
class _GroupCall:
    """What a group subflow runs: handed over in its caller's context (see engine/scope.py)."""

    steps: list[Step]
    scope: Scope

    @property
    def run_name(self) -> str:
        return f"{self.scope.run_name}/{self.scope.prefix.rstrip('/')}".lstrip("/")


_group_call: ContextVar[_GroupCall | None] = ContextVar("autoagent_group_call", default=None)


def _group_run_name() -> str:
    call = _group_call.get()
    return call.run_name if call is not None else "group"


@flow(
    name="group",
    flow_run_name=_group_run_name,
    persist_result=False,
    validate_parameters=False,
    log_prints=True,
)
def group() -> dict[str, Any]:
    """Run the steps of a group (or of a child mission, or of a plan) as one subflow."""
    call = _group_call.get()
    assert call is not None, "a group runs through run_group"
    journal = current_journal() or Journal()  # its mission's, in the same process
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if run is not None and run.state is not None and run.parent_task_run_id is not None:
        journal.group_starts[run.parent_task_run_id] = run.state.timestamp  # its start_time
    with journaling(journal):
        outcomes = Scheduler(call.scope, journal, run_group).run(call.steps)
    bad = failures(outcomes)
    if bad:
        raise MissionFailed(f"group {call.scope.prefix.rstrip('/')!r}", bad)
    return {sid: o.output for sid, o in outcomes.items()}


def run_group(step: Step, scope: Scope, after: list[Link]) -> State[Any]:
    """Run a group step (or a child mission, or a plan) as a subflow in ``scope``, after the
    runs ``after`` stands for; its final state. Its run carries the mission's tags."""
    steps = step.child.steps if step.child is not None else step.steps or []
    return run_steps(steps, scope, after)


def run_steps(steps: list[Step], scope: Scope, after: list[Link] | None = None) -> State[Any]:
    """Run ``steps`` as a group subflow in ``scope``; its final state."""
    token = _group_call.set(_GroupCall(list(steps), scope))
    try:
        with tags(*scope.tags):
            return group(wait_for=after or None, return_state=True)
    finally:
        _group_call.reset(token)


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


def spec_runner(name: str = MISSION_FLOW) -> Flow[..., dict[str, Any]]:
    """The spec runner as the flow of the mission ``name`` (the Flows page lists each mission
    under its own name), persisting to the current server's results block."""
    return _runner_for(str(PREFECT_API_URL.value()), name)


@lru_cache(maxsize=64)
def _runner_for(api_url: str, name: str) -> Flow[..., dict[str, Any]]:
    return named(name).with_options(result_storage=result_storage())


@lru_cache(maxsize=64)
def named(name: str) -> Flow[..., dict[str, Any]]:
    """The spec runner as the flow of the mission ``name``: what a run is created from."""
    return mission.with_options(name=name)
