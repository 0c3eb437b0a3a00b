"""Mission runs driven from this process: create one, execute it to its end, resume a dead one,
cancel one.

``create`` makes the flow run first (Pending), so its id is known before any step starts;
``execute`` runs it here (Prefect's ``run_flow`` on that flow run) and returns what happened as
one ``Finished``: the final state and the run's journal (each step's outcome, attempts, timings).
``prepare_resume`` proves a run dead and puts it back to Pending, so that ``execute`` runs the same
flow run id again: completed steps are read from their persisted results.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from prefect import Flow
from prefect.client.schemas.objects import FlowRun
from prefect.context import SettingsContext, get_settings_context
from prefect.flow_engine import run_flow
from prefect.flows import load_flow_from_entrypoint
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, Settings
from prefect.states import Cancelled, Pending, State
from prefect.utilities.annotations import opaque

from autoagent import processes
from autoagent.engine import versions
from autoagent.engine.driving import LocalRun, driving
from autoagent.engine.journal import Journal, Listener, journaling
from autoagent.engine.mission import check_runnable, named, spec_runner
from autoagent.engine.outcome import Outcome, state_value
from autoagent.errors import RunError
from autoagent.server import inputs, status
from autoagent.server.client import client, read_run
from autoagent.server.liveness import alive_reason, heartbeat, heartbeat_seconds, mark_alive
from autoagent.server.recording import wait_for_records
from autoagent.server.records import MISSION_FLOW
from autoagent.server.tags import check_user_tags, mission_tags, param_tags, spec_tag
from autoagent.settings import get_settings
from autoagent.spec import MissionSpec

logger = logging.getLogger("autoagent.runs")


@dataclass
class Finished:
    """A mission run that this process drove to its end: its id, final state, and journal."""

    run_id: str
    state: State
    journal: Journal = field(default_factory=Journal, repr=False)

    @property
    def ok(self) -> bool:
        return self.state.is_completed()

    @property
    def outcomes(self) -> dict[str, Outcome]:
        """What became of each step (spec missions), by path, as this process saw it."""
        return self.journal.outcomes

    def outputs(self) -> Any:
        """What the mission returned (a spec mission: each top-level step's output by id); sync
        even where an event loop runs, as in a notebook."""
        return state_value(self.state, raise_on_failure=True)


def create(
    spec: MissionSpec,
    params: dict[str, Any],
    auto_approve: bool = False,
    tags: Iterable[str] = (),
) -> FlowRun:
    """Create the flow run of a spec mission (Pending), so its id exists before anything runs.
    Its params, work pools and the user's ``tags`` are checked first: bad input creates no run.
    The run carries the mission's tags, its params' summary and the user's tags (tags.py)."""
    check_runnable(spec, params)
    given = check_user_tags(tags)
    data = spec.model_dump(mode="json", exclude_none=True)
    with client() as prefect:
        return prefect.create_flow_run(
            flow=named(spec.name),
            name=f"{spec.name}-{secrets.token_hex(3)}",
            parameters={"spec": data, "params": params, "auto_approve": auto_approve},
            state=Pending(),
            tags=[*mission_tags(spec.name), spec_tag(data), *param_tags(params), *given],
        )


def execute(
    flow_run: FlowRun, *, spec: MissionSpec | None = None, listeners: Iterable[Listener] = ()
) -> Finished:
    """Run (or re-run) the flow run in this process to its end; what happened.

    ``spec``: the spec ``create`` made the run from, so the flow need not validate it again.
    ``listeners`` see each step's outcome as it happens. The engine's own heartbeat is off for
    this run and ``heartbeat`` sends the same event instead (autoagent.server.liveness says why).
    """
    journal = Journal(listeners)
    given = (flow_run.parameters or {}).get("spec")
    if given is None:
        flow = load_for_resume(flow_run)  # a mission written as code
    else:
        flow = spec_runner(
            given.get("name", MISSION_FLOW) if isinstance(given, dict) else MISSION_FLOW
        )
    trusted = spec if spec is not None and spec.checked else None
    run_id = str(flow_run.id)
    try:
        with (
            driving(LocalRun(flow_run.id, journal, trusted)),
            journaling(journal),
            _engine_heartbeat_off(),
            heartbeat(flow_run, heartbeat_seconds(), on_start=lambda: mark_alive(run_id)),
        ):
            state = run_flow(
                flow, flow_run=flow_run, parameters=_opaque(flow_run), return_type="state"
            )
    finally:
        journal.join()
    return Finished(run_id, state, journal)


def _opaque(flow_run: FlowRun) -> dict[str, Any]:
    """The run's parameters as its flow gets them, each wrapped so Prefect does not visit every
    element looking for futures (a spec's or a fan-out's thousands of items: none can be one,
    they came from the server as JSON)."""
    return {name: opaque(value) for name, value in (flow_run.parameters or {}).items()}


def recorded(finished: Finished, seconds: float | None = None) -> bool:
    """Wait until the server holds the final state of every step ``finished`` saw end (at most
    ``seconds``, AUTOAGENT_RECORD_WAIT_SECONDS by default): a status or report read next then
    shows them all. False when the server is still behind."""
    wait = get_settings().record_wait_seconds if seconds is None else seconds
    return wait_for_records(UUID(finished.run_id), finished.journal.task_run_ids(), wait)


def _code_changes(flow_run: FlowRun) -> list[str]:
    """How the code a mission written as code would resume on differs from the code it began on
    (engine/versions.py); empty when it does not, or when its first attempt recorded none."""
    began = versions.recorded(flow_run.id)
    if began is None:
        return []
    return versions.changed(began, versions.code_version(load_for_resume(flow_run).fn))


def _would_meet(run_id: str) -> str:
    """Which steps would run on the new code: those that did not complete, and any not reached."""
    steps = [s for s in status.load(run_id).status.walk() if not s.children]
    open_ = [f"{s.path} ({s.state})" for s in steps if s.state not in ("completed", "skipped")]
    shown = ", ".join(open_) if open_ else "none recorded"
    return f"Steps that would run on the new code: {shown}, and every step not reached yet."


def load_for_resume(flow_run: FlowRun) -> Flow[..., Any]:
    """The ``@mission`` flow of a run written as code, imported from where its first attempt
    recorded it (from the current directory too, as ``python -m`` would)."""
    entrypoint = inputs.read_input(flow_run.id, inputs.ENTRYPOINT_KEY)
    if not entrypoint:
        raise RunError(
            f"run {flow_run.id} is a mission written as code in a script, a notebook or a"
            " function: there is nothing to import it from. Define it at the top of a module,"
            " or deploy it (a deployed run is resumed from its deployment)"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = load_flow_from_entrypoint(str(entrypoint), use_placeholder_flow=False)
    except Exception as exc:
        raise RunError(
            f"run {flow_run.id} is the mission {entrypoint}, which cannot be loaded here"
            f" ({type(exc).__name__}: {exc}): resume it from the directory its module is"
            " importable from"
        ) from None
    if not isinstance(found, Flow):
        raise RunError(f"{entrypoint} is not a @mission (run {flow_run.id})")
    return found


_quiet: tuple[Settings, Settings] | None = None
"""The last settings seen, and their copy with the engine's heartbeat off."""


@contextlib.contextmanager
def _engine_heartbeat_off() -> Iterator[None]:
    """The current settings with the engine's heartbeat off (``temporary_settings`` rebuilds
    every setting, ~0.1 s; the copy is made once per settings object)."""
    global _quiet
    context = get_settings_context()
    if context.settings.flows.heartbeat_frequency is None:
        yield
        return
    if _quiet is None or _quiet[0] is not context.settings:
        updates = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
        _quiet = (context.settings, context.settings.copy_with_update(updates=updates))
    with SettingsContext(profile=context.profile, settings=_quiet[1]):
        yield


def check_resumable(flow_run: FlowRun) -> None:
    state = flow_run.state
    if state is not None and state.is_completed():
        raise RunError(f"run {flow_run.id} already completed: nothing to resume")
    reason = alive_reason(flow_run)
    if reason:
        raise RunError(
            f"run {flow_run.id} is still alive: {reason}. Wait for it, or cancel it with"
            f" `autoagent cancel {flow_run.id}`"
        )


def prepare_resume(
    run_id: str,
    allow_changed_code: bool = False,
    warn: Callable[[str], None] = logger.warning,
) -> FlowRun:
    """Prove the run is dead and put it back in a state the engine can run again; the process
    groups its shell steps left running on this machine are ended first. A mission written as
    code whose code changed since the run began is refused, naming the change and the steps that
    would run on the new code, unless ``allow_changed_code`` (then ``warn`` hears each change)."""
    flow_run = read_run(run_id)
    check_resumable(flow_run)
    if (flow_run.parameters or {}).get("spec") is None:
        differs = _code_changes(flow_run)
        if differs and not allow_changed_code:
            raise RunError(
                f"run {flow_run.id}: the code of its mission changed since the run began:"
                f" {'; '.join(differs)}. {_would_meet(str(flow_run.id))} Resume it anyway with"
                " `--allow-changed-code`"
            )
        for change in differs:
            warn(f"on changed code: {change}")
    for path in processes.reap(str(flow_run.id)):
        logger.warning("ended the process group step %r left running when its run died", path)
    with client() as prefect:
        prefect.set_flow_run_state(flow_run.id, Pending(message="resumed by autoagent"), force=True)
        return prefect.read_flow_run(flow_run.id)


def cancel(run_id: str, grace: float = 15.0) -> FlowRun:
    """Stop a run that has not finished: its process on this machine gets SIGTERM (SIGKILL after
    ``grace``), its shell steps' process groups are ended, then the run is marked Cancelled (after
    the process is gone, so a dying engine cannot overwrite it with Crashed)."""
    flow_run = read_run(run_id)
    if flow_run.state is not None and flow_run.state.is_final():
        raise RunError(f"run {run_id} already ended ({flow_run.state.name}): nothing to cancel")
    host, _, pid_text = (flow_run.infrastructure_pid or "").rpartition(":")
    if host == socket.gethostname() and pid_text.isdigit() and int(pid_text) != os.getpid():
        pid = int(pid_text)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while processes.alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if processes.alive(pid):
                os.kill(pid, signal.SIGKILL)
    processes.reap(str(flow_run.id))
    with client() as prefect:
        prefect.set_flow_run_state(
            flow_run.id, Cancelled(message="cancelled by autoagent"), force=True
        )
    return read_run(run_id)
