"""The CLI on the embedded default, as a newcomer uses it: run, then status, list, cancel.

The local server records task states asynchronously and drops what is in flight when the
process exits: `status` right after `run` must still show every step's final state.
"""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.cli import autoagent, cli_env, run_id_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_run_then_status_shows_every_final_state(tmp_path, embedded_home):
    env = cli_env(home=embedded_home)
    steps = [{"id": "start", "agent": "echo", "input": {"value": [1, 2, 3, 4, 5, 6]}}]
    steps.append(
        {
            "id": "each",
            "agent": "shell",
            "needs": ["start"],
            "for_each": "{{ steps.start.output }}",
            "input": {"command": "echo {{ item }}"},
        }
    )
    steps.append({"id": "skip", "agent": "echo", "when": "false", "input": {"value": 0}})
    steps.append({"id": "broken", "agent": "fail", "input": {"message": "boom"}})
    steps.append({"id": "after", "agent": "echo", "needs": ["broken"], "input": {"value": 0}})
    spec = tmp_path / "m.yaml"
    spec.write_text(yaml.safe_dump({"name": "newcomer", "steps": steps}))

    ran = autoagent("run", str(spec), env=env)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stdout + ran.stderr
    assert "mission did not complete" in ran.stderr
    run_id = run_id_in(ran.stdout)

    status = autoagent("status", run_id, env=env)
    assert status.returncode == 0, status.stderr
    text = status.stdout
    assert "Failed" in text
    for i in range(6):
        assert f"each[{i}]  completed" in text, text
    assert "skip  skipped" in text
    assert "broken  failed  1 attempt" in text and "boom" in text
    assert "after  not run" in text

    listed = autoagent("list", env=env)
    assert listed.returncode == 0 and run_id in listed.stdout

    cancel = autoagent("cancel", run_id, env=env)
    assert cancel.returncode == 3
    assert "already ended" in cancel.stderr

    unknown = autoagent("status", "00000000-0000-0000-0000-000000000000", env=env)
    assert unknown.returncode == 3
    assert "no mission run" in unknown.stderr
