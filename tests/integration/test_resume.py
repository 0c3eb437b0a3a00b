"""Resume of a failed mission on the same run id: fan-outs and groups that completed are not
run again, counted by their side effects."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from autoagent.api import runs
from autoagent.errors import RunError
from autoagent.server import liveness
from autoagent.server.client import read_run
from tests.missions import read_status, run_mission

pytestmark = pytest.mark.integration


def test_resume_skips_completed_fan_out_and_group(prefect_api, tmp_path):
    log, marker = tmp_path / "effects.log", tmp_path / "marker"
    run = run_mission(
        {
            "name": f"resume-{uuid.uuid4().hex[:8]}",
            "params": {"xs": [1, 2, 3, 4]},
            "steps": [
                {
                    "id": "fan",
                    "agent": "shell",
                    "for_each": "{{ params.xs }}",
                    "input": {"command": f"echo fan{{{{ item }}}} >> {log}; echo {{{{ item }}}}"},
                },
                {
                    "id": "grp",
                    "needs": ["fan"],
                    "steps": [
                        {
                            "id": "inner",
                            "agent": "shell",
                            "input": {"command": f"echo inner >> {log}; echo done"},
                        }
                    ],
                },
                {
                    "id": "last",
                    "agent": "python",
                    "needs": ["grp"],
                    "input": {
                        "function": "tests.integration.resume_tools:finish_when",
                        "args": [str(marker)],
                    },
                },
            ],
        }
    )
    assert run.state.is_failed()
    before = Counter(log.read_text().split())
    assert before == Counter({"fan1": 1, "fan2": 1, "fan3": 1, "fan4": 1, "inner": 1})

    marker.touch()
    flow_run = runs.prepare_resume(run.id)
    finished = runs.execute(flow_run)
    assert finished.ok, finished.state.message
    assert Counter(log.read_text().split()) == before
    done = finished.outcomes
    assert done["fan"].cached and done["grp"].cached
    assert done["fan"].output == [
        {"stdout": str(i), "stderr": "", "exit_code": 0} for i in (1, 2, 3, 4)
    ]
    assert done["last"].output == "finished"
    status = read_status(run.id)
    assert status.state == "Completed"
    assert [s.state for s in status.steps] == ["completed"] * 3

    with pytest.raises(RunError, match="already completed"):
        runs.prepare_resume(run.id)


def test_a_run_killed_before_it_recorded_its_process_is_judged_by_its_heartbeat(prefect_api):
    """No ``infrastructure_pid`` yet (the process died before that record reached the server):
    the process its last heartbeat names decides, on this machine by asking the OS."""
    import socket
    import subprocess
    import time

    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    from autoagent.server.liveness import EVENT, PROCESS_LABEL
    from autoagent.spec import validate_data

    def run_beating_from(process: str) -> object:
        spec = validate_data(
            {"name": "judged", "steps": [{"id": "a", "agent": "echo", "input": {"value": 1}}]}
        )
        flow_run = runs.create(spec, {})
        emit_event(
            event=EVENT,
            resource={
                "prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                PROCESS_LABEL: process,
            },
        )
        EventsWorker.drain_all(timeout=10)
        deadline = time.monotonic() + 60
        while liveness.last_heartbeat(flow_run.id) is None:
            assert time.monotonic() < deadline, "the heartbeat never reached the server"
            time.sleep(0.5)
        assert liveness.last_heartbeat(flow_run.id)[1] == process
        return read_run(str(flow_run.id))

    here = socket.gethostname()
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert liveness.alive_reason(run_beating_from(f"{here}:{gone.pid}")) is None

    living = subprocess.Popen(["sleep", "60"])
    try:
        reason = liveness.alive_reason(run_beating_from(f"{here}:{living.pid}"))
        assert reason == f"its process {living.pid} on this machine is still running"
    finally:
        living.kill()
        living.wait()

    reason = liveness.alive_reason(run_beating_from("elsewhere:4242"))
    assert reason is not None and reason.endswith("ago (from elsewhere)"), reason
