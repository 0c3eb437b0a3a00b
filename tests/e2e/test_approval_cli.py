"""Approvals and signals as a user types them: `run` waits and says how to answer, `status` and
`list` show what it waits for, `approve` refuses bad input and the run keeps waiting, and a crash
while waiting loses nothing (an answered approval is never asked again)."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest
import yaml
from prefect import get_client
from prefect.client.schemas.objects import StateType

from autoagent.server import inputs
from tests.e2e.cli import (
    autoagent,
    cli_env,
    kill_group,
    lines_in,
    run_id_in,
    start_autoagent,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _spec(tmp_path: Path, name: str) -> Path:
    def counter(step: str) -> dict:
        return {"command": f"echo x >> {tmp_path / step}; echo {step}"}

    steps = [
        {"id": "build", "agent": "shell", "input": counter("build")},
        {
            "id": "legal",
            "needs": ["build"],
            "approval": {"title": "Legal sign-off", "fields": {"ticket": {"type": "int"}}},
        },
        {"id": "package", "agent": "shell", "needs": ["legal"], "input": counter("package")},
        {"id": "review", "needs": ["package"], "approval": {"title": "Ship it?"}},
        {"id": "paid", "needs": ["review"], "event": {"key": "invoice-paid"}},
        {
            "id": "ship",
            "agent": "shell",
            "needs": ["paid"],
            "input": {
                "command": f"echo x >> {tmp_path / 'ship'}; echo {{{{ steps.paid.output.eur }}}}"
            },
        },
    ]
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "steps": steps}))
    return path


def _start_until_legal_waits(tmp_path: Path, env: dict, name: str) -> tuple:
    """`autoagent run` in the background, returned once `legal` holds the form."""
    out = tmp_path / "run.out"
    process = start_autoagent("run", str(_spec(tmp_path, name)), env=env, log=out)
    try:
        wait_for(lambda: "⏸ legal" in out.read_text(), timeout=60, what="legal", process=process)
        run_id = run_id_in(out.read_text())
        wait_for(lambda: _waiting_on(run_id, "legal"), timeout=30, what="the form")
    except BaseException:
        kill_group(process)
        raise
    return process, run_id


def _waiting_on(run_id: str, path: str) -> bool:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(run_id)).state
    keyset = state.state_details.run_input_keyset if state else None
    return bool(state and state.is_paused() and keyset == inputs.keyset(path))


def _pauses(run_id: str) -> list[str]:
    """The step keysets the run was paused on, in order: how many times each form was asked."""
    with get_client(sync_client=True) as client:
        states = client.read_flow_run_states(UUID(run_id))
    return [
        s.state_details.run_input_keyset["response"]
        for s in states
        if s.type == StateType.PAUSED and s.state_details.run_input_keyset
    ]


def test_answer_from_the_cli(tmp_path, prefect_server, prefect_api):
    env = cli_env(prefect_server.env())
    spec = _spec(tmp_path, "cli-approval")
    out = tmp_path / "run.out"
    process = start_autoagent("run", str(spec), env=env, log=out)
    try:
        wait_for(
            lambda: "⏸ legal" in out.read_text(), timeout=60, what="legal waiting", process=process
        )
        run_id = run_id_in(out.read_text())
        assert f"autoagent approve {run_id} --step legal" in out.read_text()
        wait_for(lambda: _waiting_on(run_id, "legal"), timeout=30, what="the form")

        status = autoagent("status", run_id, env=env)
        assert "legal  waiting" in status.stdout, status.stdout
        assert "waits for approval: 'Legal sign-off'" in status.stdout
        assert "ticket: integer" in status.stdout
        listing = autoagent("list", env=env)
        assert "approval legal" in listing.stdout, listing.stdout

        bad = autoagent("approve", run_id, "--field", "ticket=abc", env=env)
        assert bad.returncode != 0
        assert "refused" in bad.stderr and "'abc' is not of type 'integer'" in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
        unknown = autoagent("approve", run_id, "--field", "ticket=1", "--field", "x=1", env=env)
        assert unknown.returncode != 0 and "'x' was unexpected" in unknown.stderr
        assert _waiting_on(run_id, "legal")

        good = autoagent("approve", run_id, "--field", "ticket=7", "--comment", "ok", env=env)
        assert good.returncode == 0, good.stderr
        assert "continues" in good.stdout

        wait_for(lambda: "⏸ review" in out.read_text(), timeout=60, what="review", process=process)
        ok = autoagent("approve", run_id, "--step", "review", env=env)
        assert ok.returncode == 0, ok.stderr

        wait_for(lambda: "⏸ paid" in out.read_text(), timeout=60, what="paid", process=process)
        assert f"autoagent signal {run_id} invoice-paid --data JSON" in out.read_text()
        not_json = autoagent("signal", run_id, "invoice-paid", "--data", "{eur: 5", env=env)
        assert not_json.returncode == 2 and "not JSON" in not_json.stderr
        sent = autoagent(
            "signal", run_id, "invoice-paid", "--data", json.dumps({"eur": 5}), env=env
        )
        assert sent.returncode == 0, sent.stderr
        assert process.wait(timeout=60) == 0, out.read_text()
    finally:
        kill_group(process)
    assert [lines_in(tmp_path, s) for s in ("build", "package", "ship")] == [1, 1, 1]
    late = autoagent("signal", run_id, "invoice-paid", "--data", "1", env=env)
    assert late.returncode == 3 and "already ended" in late.stderr


def test_a_rejection_from_the_cli_needs_no_field(tmp_path, prefect_server, prefect_api):
    env = cli_env(prefect_server.env())
    process, run_id = _start_until_legal_waits(tmp_path, env, "cli-reject")
    try:
        missing = autoagent("approve", run_id, "--comment", "yes", env=env)
        assert missing.returncode == 2 and "'ticket' is a required property" in missing.stderr
        assert _waiting_on(run_id, "legal")
        rejected = autoagent("approve", run_id, "--reject", "--comment", "no", env=env)
        assert rejected.returncode == 0, rejected.stderr
        assert rejected.stdout.startswith("rejected:")
        assert process.wait(timeout=60) == 1  # on_reject: fail
    finally:
        kill_group(process)
    status = autoagent("status", run_id, env=env)
    assert "legal  failed" in status.stdout and "rejected: no" in status.stdout, status.stdout
    assert lines_in(tmp_path, "package") == 0


def test_crash_while_waiting_never_asks_an_answered_form_again(
    tmp_path, prefect_server, prefect_api
):
    env = cli_env(prefect_server.env())
    process, run_id = _start_until_legal_waits(tmp_path, env, "crash-approval")
    try:
        assert autoagent("approve", run_id, "--field", "ticket=1", env=env).returncode == 0
        wait_for(lambda: _waiting_on(run_id, "review"), timeout=60, what="review")
    finally:
        kill_group(process)  # dies while `review` waits

    # answered while the process is down: kept, and the CLI says how to continue
    answered = autoagent("approve", run_id, "--step", "review", "--comment", "late", env=env)
    assert answered.returncode == 0, answered.stderr
    assert f"autoagent resume {run_id}" in answered.stdout
    # the signal arrives before the resumed mission gets there: kept until consumed
    assert (
        autoagent("signal", run_id, "invoice-paid", "--data", '{"eur": 9}', env=env).returncode == 0
    )

    resumed = autoagent("resume", run_id, env=env, timeout=180)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "⏸" not in resumed.stdout  # nothing asked again
    assert [lines_in(tmp_path, s) for s in ("build", "package", "ship")] == [1, 1, 1]
    asked = _pauses(run_id)
    assert asked.count(inputs.keyset("legal")["response"]) == 1
    assert asked.count(inputs.keyset("review")["response"]) == 1
    status = autoagent("status", run_id, env=env)
    assert "review  completed" in status.stdout, status.stdout


def test_crash_while_waiting_then_resume_asks_once_more_and_completes(
    tmp_path, prefect_server, prefect_api
):
    env = cli_env(prefect_server.env())
    process, run_id = _start_until_legal_waits(tmp_path, env, "crash-resume-approval")
    kill_group(process)  # dies while `legal` waits, unanswered

    log = tmp_path / "resume.out"
    resumed = start_autoagent("resume", run_id, env=env, log=log)
    try:
        wait_for(lambda: "⏸ legal" in log.read_text(), timeout=60, what="legal asked again")
        wait_for(lambda: _waiting_on(run_id, "legal"), timeout=30, what="the form again")
        assert autoagent("approve", run_id, "--field", "ticket=2", env=env).returncode == 0
        wait_for(lambda: _waiting_on(run_id, "review"), timeout=60, what="review")
        assert autoagent("approve", run_id, env=env).returncode == 0
        assert (
            autoagent("signal", run_id, "invoice-paid", "--data", '{"eur": 1}', env=env).returncode
            == 0
        )
        assert resumed.wait(timeout=60) == 0, log.read_text()
    finally:
        kill_group(resumed)
    assert [lines_in(tmp_path, s) for s in ("build", "package", "ship")] == [1, 1, 1]
    asked = _pauses(run_id)
    # legal was asked before the crash and once after it (never answered before); review once
    assert asked.count(inputs.keyset("legal")["response"]) == 2
    assert asked.count(inputs.keyset("review")["response"]) == 1
