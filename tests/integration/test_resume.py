"""Resume of a failed mission on the same run id: fan-outs and groups that completed are not
run again, counted by their side effects."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from autoagent import runs
from autoagent.errors import RunError
from flows import outcomes
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
    state = runs.execute(flow_run)
    assert state.is_completed(), state.message
    assert Counter(log.read_text().split()) == before
    done = outcomes.records[run.id]
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
