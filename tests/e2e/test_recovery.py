"""Crash detection and capped automatic resume on the native stack (`autoagent server setup`):
each crash counts side effects — completed steps ran exactly once, the mission completes on the
same flow run id — and a run that crashes every time stops at the cap; a waiting mission is never
marked Crashed."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from uuid import UUID

import pytest
import yaml

from tests.e2e.cli import children, kill_group, lines_in, run_id_in, start_autoagent, wait_for
from tests.stack import Stack, stack_fixture

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

SILENCE = 45  # the detection window; Prefect's flow heartbeat cannot be under 30 s


stack = stack_fixture(
    "recovery",
    redis_db=12,
    setup=["--silence", str(SILENCE), "--max-resumes", "2", "--backoff", "2"],
    PREFECT_WORKER_QUERY_SECONDS="2",
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY="30",
)


def _spec(tmp_path: Path, middle: str) -> Path:
    def counted(name: str, then: str = "") -> dict:
        return {"command": f"echo x >> {tmp_path / name}; {then}".rstrip("; ")}

    steps = [
        {"id": "one", "agent": "shell", "input": counted("one")},
        {"id": "two", "agent": "shell", "needs": ["one"], "input": counted("two", middle)},
        {"id": "three", "agent": "shell", "needs": ["two"], "input": counted("three")},
    ]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"name": "crashy", "steps": steps}))
    return path


def _deploy_run(stack: Stack, spec: Path) -> str:
    ran = stack.client(
        stack.prefect, "deployment", "run", "mission/run-mission", "-p", f"spec={spec}"
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return ran.stdout.split("UUID: ")[1].split()[0]


@contextlib.contextmanager
def _client_of(stack: Stack):
    from prefect import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    env = stack.client_env
    settings = {
        PREFECT_API_URL: env["PREFECT_API_URL"],
        PREFECT_API_AUTH_STRING: env["PREFECT_API_AUTH_STRING"],
    }
    with temporary_settings(updates=settings), get_client(sync_client=True) as client:
        yield client


def _states(stack: Stack, run_id: str) -> list[str]:
    with _client_of(stack) as client:
        return [s.name for s in client.read_flow_run_states(UUID(run_id))]


def _events(stack: Stack, run_id: str) -> str:
    """The run's events as the server recorded them: what crash detection saw."""
    from prefect.events.filters import EventFilter, EventResourceFilter

    wanted = EventFilter(resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"]))
    with _client_of(stack) as client:
        page = client.read_events(filter=wanted, limit=50)
    lines = [
        f"{e.occurred:%H:%M:%S.%f} {e.event}" for e in sorted(page.events, key=lambda e: e.occurred)
    ]
    return "\n".join(lines)


def _detected(stack: Stack, run_id: str, timeout: float) -> None:
    try:
        wait_for(lambda: "Crashed" in _states(stack, run_id), timeout=timeout, what="Crashed")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the run's events:\n{_events(stack, run_id)}") from None


def _engines_of(pid: int) -> list[int]:
    return [child for child, args in children(pid) if "prefect.engine" in args]


def test_kill_9_of_the_flow_process(stack, tmp_path):
    run_id = _deploy_run(stack, _spec(tmp_path, "sleep 15"))
    wait_for(lambda: lines_in(tmp_path, "two") == 1, timeout=90, what="step two running")
    killed_at = time.monotonic()
    for pid in _engines_of(stack.pid("worker")):
        os.kill(pid, signal.SIGKILL)
    _detected(stack, run_id, timeout=60)
    wait_for(lambda: _states(stack, run_id)[-1] == "Running", timeout=60, what="resumed")
    print(f"kill -9 of the flow process: resumed {time.monotonic() - killed_at:.1f}s after")
    wait_for(lambda: _states(stack, run_id)[-1] == "Completed", timeout=90, what="completed")
    assert lines_in(tmp_path, "one") == 1 and lines_in(tmp_path, "three") == 1
    assert lines_in(tmp_path, "two") == 2  # the step that was running when it crashed: again


def test_kill_9_of_the_worker_and_its_children(stack, tmp_path):
    run_id = _deploy_run(stack, _spec(tmp_path, "sleep 15"))
    wait_for(lambda: lines_in(tmp_path, "two") == 1, timeout=90, what="step two running")
    worker = stack.pid("worker")
    engines = _engines_of(worker)
    killed_at = time.monotonic()
    os.killpg(worker, signal.SIGKILL)
    for pid in engines:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    restarted = stack.run("up")  # the stack brings back what is missing: the worker
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    # the silence, then the triggers service's next proactive pass: up to one more window late
    _detected(stack, run_id, timeout=3 * SILENCE)
    print(f"kill -9 of the worker: detected {time.monotonic() - killed_at:.1f}s after")
    wait_for(lambda: _states(stack, run_id)[-1] == "Completed", timeout=120, what="completed")
    print(f"kill -9 of the worker: completed {time.monotonic() - killed_at:.1f}s after")
    assert lines_in(tmp_path, "one") == 1 and lines_in(tmp_path, "three") == 1
    assert lines_in(tmp_path, "two") in (1, 2)


def test_a_mission_dead_before_its_first_heartbeat_is_detected(stack):
    """A process killed before its first heartbeat reached the server leaves a Running run that
    nothing heartbeats: a mission (tagged) is judged from its Running, any other flow only after
    a heartbeat, so a flow that never heartbeats is not taken for dead."""
    from prefect import flow
    from prefect.states import Running

    @flow(name="silent")
    def silent() -> None: ...

    with _client_of(stack) as client:
        runs = {
            tags[0] if tags else "untagged": client.create_flow_run(silent, tags=tags).id
            for tags in (["autoagent"], [])
        }
        for run_id in runs.values():
            client.set_flow_run_state(run_id, Running())
    _detected(stack, str(runs["autoagent"]), timeout=3 * SILENCE)
    time.sleep(5)  # both were judged in the same passes of the triggers service
    untagged = _states(stack, str(runs["untagged"]))
    assert untagged[-1] == "Running" and "Crashed" not in untagged, untagged


def test_a_run_that_crashes_every_time_stops_at_the_cap(stack, tmp_path):
    run_id = _deploy_run(stack, _spec(tmp_path, "kill -9 $PPID"))  # kills its own flow process
    wait_for(lambda: _states(stack, run_id)[-1] == "Failed", timeout=180, what="Failed at the cap")
    states = _states(stack, run_id)
    assert states.count("Crashed") == 3 and states.count("AwaitingRecovery") == 2
    assert lines_in(tmp_path, "one") == 1 and lines_in(tmp_path, "two") == 3
    status = stack.autoagent("status", run_id)
    assert "gave up after 2 automatic resumes" in status.stdout, status.stdout


def test_waiting_missions_are_never_marked_crashed(stack, tmp_path):
    """A deployed mission suspends on its approval while a parallel step goes on for longer than
    a heartbeat period: its process beats after the run is Suspended, then leaves, and says so
    (crash detection would otherwise count the silence after those beats as a death). A local
    run pauses and beats on."""
    slow = {"command": f"sleep 25; echo x >> {tmp_path / 'slow'}"}
    steps = [
        {"id": "ok", "approval": {"title": "Go?"}},
        {"id": "slow", "agent": "shell", "input": slow},
    ]
    spec = tmp_path / "waits.yaml"
    spec.write_text(yaml.safe_dump({"name": "waits", "steps": steps}))
    suspended = _deploy_run(stack, spec)
    out = tmp_path / "local.out"
    local = start_autoagent("run", str(spec), env=stack.client_env, log=out)
    try:
        wait_for(lambda: "⏸ ok" in out.read_text(), timeout=60, what="local pause", process=local)
        paused = run_id_in(out.read_text())
        wait_for(lambda: _states(stack, suspended)[-1] == "Suspended", timeout=60, what="suspend")
        wait_for(lambda: lines_in(tmp_path, "slow") == 2, timeout=60, what="both slow steps")
        worker = stack.pid("worker")
        wait_for(lambda: not _engines_of(worker), timeout=30, what="the flow process gone")
        time.sleep(SILENCE + 35)  # past the detection window, and past a heartbeat
        assert _states(stack, suspended)[-1] == "Suspended"
        assert _states(stack, paused)[-1] == "Paused"
        states = _states(stack, paused) + _states(stack, suspended)
        assert "Crashed" not in states, f"{states}; events:\n{_events(stack, suspended)}"
        assert lines_in(tmp_path, "slow") == 2
    finally:
        kill_group(local)


def test_kill_9_of_the_api_server_mid_mission_and_restart(stack, tmp_path):
    run_id = _deploy_run(stack, _spec(tmp_path, "sleep 10"))
    wait_for(lambda: lines_in(tmp_path, "two") == 1, timeout=90, what="step two running")
    api = stack.pid("api")
    killed_at = time.monotonic()
    os.killpg(api, signal.SIGKILL)
    wait_for(lambda: stack.run("status").returncode != 0, timeout=30, what="the API down")
    restarted = stack.run("up")  # brings back the API server alone
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    print(f"kill -9 of the API server: healthy again {time.monotonic() - killed_at:.1f}s after")
    wait_for(lambda: _states(stack, run_id)[-1] == "Completed", timeout=120, what="completed")
    print(f"kill -9 of the API server: mission completed {time.monotonic() - killed_at:.1f}s after")
    assert [lines_in(tmp_path, n) for n in ("one", "two", "three")] == [1, 1, 1]
