"""A deployed mission waits with no process alive: it suspends at an approval and at a timer, the
served runner's flow process exits, and the same flow run id comes back when answered or due.
Side effects are counted: steps before the wait ran exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from prefect import get_client

from autoagent.api import answers
from autoagent.server import inputs
from tests.e2e.cli import children, kill_group, lines_in, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


class Served:
    def __init__(self, process: subprocess.Popen, log: Path):
        self.process = process
        self.log = log

    def flow_processes(self) -> list[str]:
        """Processes the runner started for flow runs (one per attempt) that are still alive;
        multiprocessing's resource tracker, which lives as long as the runner, is not one."""
        found = children(self.process.pid)
        return [f"{pid} {args}" for pid, args in found if "resource_tracker" not in args]


def _serve(prefect_server, log: Path, argv: list[str], ready: str) -> Served:
    env = {
        **os.environ,
        **prefect_server.env(),
        "AUTOAGENT_SUSPEND_MIN_SECONDS": "2",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: ready in log.read_text(), timeout=60, what=ready, process=process)
    except BaseException:
        kill_group(process)
        raise
    return Served(process, log)


@pytest.fixture(scope="module")
def served(prefect_server, tmp_path_factory) -> Iterator[Served]:
    log = tmp_path_factory.mktemp("served") / "runner.log"
    argv = ["-m", "deployments.serve", "--poll", "1", "--prefetch", "1"]
    runner = _serve(prefect_server, log, argv, "serving mission/run-mission")
    yield runner
    kill_group(runner.process)


def _counter(tmp_path: Path, name: str) -> dict:
    return {"command": f"echo x >> {tmp_path / name}; date +%s.%N > {tmp_path / name}.at"}


def _start(spec: dict):
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("mission/run-mission")
        return client.create_flow_run_from_deployment(
            deployment.id, parameters={"spec": spec, "params": {}}
        )


def _state(run_id):
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state


def _no_flow_process_for(served: Served, seconds: float) -> None:
    try:
        wait_for(lambda: not served.flow_processes(), timeout=30, what="the flow process to exit")
    except AssertionError as exc:
        tail = "\n".join(served.log.read_text().splitlines()[-30:])
        raise AssertionError(
            f"{exc}: {served.flow_processes()}; the runner's log:\n{tail}"
        ) from None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert not served.flow_processes(), "a flow process is alive while the mission waits"
        time.sleep(0.2)


def test_deployed_approval_and_event_suspend_and_continue_on_the_same_run(
    served, prefect_api, tmp_path
):
    spec = {
        "name": f"deployed-approval-{uuid.uuid4().hex[:6]}",
        "steps": [
            {"id": "build", "agent": "shell", "input": _counter(tmp_path, "build")},
            {"id": "review", "needs": ["build"], "approval": {"title": "Ship?"}},
            {"id": "paid", "needs": ["review"], "event": {"key": "paid"}},
            {
                "id": "ship",
                "agent": "shell",
                "needs": ["paid"],
                "input": _counter(tmp_path, "ship"),
            },
        ],
    }
    flow_run = _start(spec)
    wait_for(
        lambda: (
            (s := _state(flow_run.id)) is not None
            and s.is_paused()
            and s.state_details.run_input_keyset == inputs.keyset("review")
        ),
        timeout=90,
        what="the run suspended at review",
    )
    assert _state(flow_run.id).state_details.pause_reschedule  # suspended, not paused
    _no_flow_process_for(served, 3)
    assert lines_in(tmp_path, "build") == 1 and lines_in(tmp_path, "ship") == 0

    answers.approve(str(flow_run.id), "review", comment="go")
    wait_for(
        lambda: (
            any(m["path"] == "paid" for m in inputs.waiting(flow_run.id))
            and _state(flow_run.id).name == "Suspended"
        ),
        timeout=90,
        what="the run suspended at the event",
    )
    _no_flow_process_for(served, 2)
    answers.signal(str(flow_run.id), "paid", {"eur": 3})  # reschedules the suspended run
    wait_for(lambda: _state(flow_run.id).is_completed(), timeout=90, what="the run to complete")
    assert lines_in(tmp_path, "build") == 1 and lines_in(tmp_path, "ship") == 1
    with get_client(sync_client=True) as client:  # the same run id went round twice
        names = [s.name for s in client.read_flow_run_states(flow_run.id)]
    assert names.count("Suspended") == 2 and names.count("Resuming") == 2
    assert names[-1] == "Completed"


def test_deployed_timer_reschedules_with_no_process_alive(served, prefect_api, tmp_path):
    seconds = 8
    spec = {
        "name": f"deployed-timer-{uuid.uuid4().hex[:6]}",
        "steps": [
            {"id": "before", "agent": "shell", "input": _counter(tmp_path, "before")},
            {"id": "nap", "needs": ["before"], "wait": {"seconds": seconds}},
            {
                "id": "after",
                "agent": "shell",
                "needs": ["nap"],
                "input": _counter(tmp_path, "after"),
            },
        ],
    }
    flow_run = _start(spec)
    wait_for(
        lambda: (s := _state(flow_run.id)) is not None and s.name == "AwaitingTimer",
        timeout=90,
        what="the run rescheduled at its timer",
    )
    reached = float((tmp_path / "before.at").read_text())
    _no_flow_process_for(served, seconds - 4)
    wait_for(lambda: _state(flow_run.id).is_completed(), timeout=90, what="the run to complete")
    after = float((tmp_path / "after.at").read_text())
    assert after >= reached + seconds - 0.5, f"woke {after - reached:.1f}s after the step"
    assert lines_in(tmp_path, "before") == 1 and lines_in(tmp_path, "after") == 1
    assert datetime.fromtimestamp(after)  # a real time


def test_deployed_python_flow_with_helpers_suspends_at_each_wait(
    prefect_server, prefect_api, tmp_path
):
    log = tmp_path / "python-runner.log"
    runner = _serve(prefect_server, log, ["-m", "tests.e2e.deployed_flow"], "serving python-")
    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name("python-release/release")
            flow_run = client.create_flow_run_from_deployment(
                deployment.id, parameters={"directory": str(tmp_path)}
            )
        run_id = str(flow_run.id)

        def suspended_at(path: str) -> bool:
            state = _state(flow_run.id)
            marked = any(m["path"] == path for m in inputs.waiting(flow_run.id))
            return bool(marked and state is not None and state.name == "Suspended")

        wait_for(lambda: suspended_at("gate"), timeout=90, what="suspended at gate")
        _no_flow_process_for(runner, 2)
        answers.approve(run_id, "gate", fields={"ticket": 5})
        wait_for(lambda: suspended_at("deployed"), timeout=90, what="suspended at the event")
        _no_flow_process_for(runner, 2)
        answers.signal(run_id, "deployed", {"ok": True})
        wait_for(lambda: _state(flow_run.id).name == "AwaitingTimer", timeout=90, what="the timer")
        _no_flow_process_for(runner, 2)
        wait_for(lambda: _state(flow_run.id).is_completed(), timeout=90, what="completion")
    finally:
        kill_group(runner.process)
    # the flow body re-ran from the top three times: every step still ran exactly once
    names = ("before", "approved", "signalled", "after")
    assert [lines_in(tmp_path, n) for n in names] == [1, 1, 1, 1]


def test_a_deployed_agents_tool_approval_suspends_and_its_turns_are_not_asked_again(
    served, prefect_api, tmp_path
):
    from autoagent.agents.provider import LLMProvider
    from tests.model_server import ModelServer, call, say

    model = ModelServer()
    try:
        provider = f"deployed-{uuid.uuid4().hex[:6]}"
        LLMProvider(endpoint=model.endpoint, model="m").save(provider)
        key = f"deployed-{uuid.uuid4().hex[:8]}"
        model.script(key, call(("shell", _counter(tmp_path, "tool"))), say("shipped"))
        spec = {
            "name": f"deployed-agent-{uuid.uuid4().hex[:6]}",
            "agents": {
                "ops": {
                    "provider": provider,
                    "system": key,
                    "tools": [{"agent": "shell", "approval": True}],
                }
            },
            "steps": [
                {"id": "build", "agent": "shell", "input": _counter(tmp_path, "build")},
                {"id": "ship", "agent": "ops", "needs": ["build"], "input": {"prompt": "ship"}},
            ],
        }
        flow_run = _start(spec)
        asked = "ship/turn-1/call-1/approval"
        wait_for(
            lambda: (
                (s := _state(flow_run.id)) is not None
                and s.name == "Suspended"
                and s.state_details.run_input_keyset == inputs.keyset(asked)
            ),
            timeout=90,
            what="the run suspended at the tool call's approval",
        )
        _no_flow_process_for(served, 2)
        assert lines_in(tmp_path, "tool") == 0
        from tests.missions import read_status

        assert read_status(str(flow_run.id)).find("ship").state == "waiting"
        answers.approve(str(flow_run.id), asked, comment="go")
        wait_for(lambda: _state(flow_run.id).is_completed(), timeout=90, what="completion")
        assert lines_in(tmp_path, "build") == 1 and lines_in(tmp_path, "tool") == 1
        assert model.seen(key) == {1: 1, 2: 1}  # the first turn was read back, not asked again
    finally:
        model.close()
