"""The research example runs offline, as a user runs it: the recorded model server started from
examples/, the provider block saved, the spec run by the CLI with its tool call approved by
``autoagent approve``, and the same mission in code (flows/research.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.cli import autoagent, cli_env, kill_group, run_id_in, start_autoagent, wait_for
from tests.servers import free_port
from tests.stack import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

ASKED = "write/turn-1/call-1/approval"


@pytest.fixture()
def replay(prefect_server, tmp_path) -> Iterator[str]:
    """The recorded model server in a process of its own; its notes URL."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from autoagent.agents.provider import LLMProvider

    port = free_port()
    log = tmp_path / "replay.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "examples/model_replay.py",
                "examples/research.recorded.json",
                "--port",
                str(port),
                "--notes",
                "examples/research-notes",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "model replay at" in log.read_text(), timeout=30, what="the replay")
        endpoint = f"http://127.0.0.1:{port}/v1"
        with temporary_settings(updates={PREFECT_API_URL: prefect_server.url}):
            LLMProvider(endpoint=endpoint, model="replay", input_price=0.15, output_price=0.6).save(
                "research-model", overwrite=True
            )
        yield f"http://127.0.0.1:{port}/notes"
    finally:
        kill_group(process)


def test_the_research_spec_runs_offline_with_its_tool_call_approved(
    prefect_server, replay, tmp_path
):
    out_dir = tmp_path / "published"
    env = cli_env({**prefect_server.env(), "RESEARCH_OUT": str(out_dir)})
    log = tmp_path / "run.out"
    spec = str(ROOT / "examples" / "research.yaml")
    process = start_autoagent("run", spec, "--param", f"notes_url={replay}", env=env, log=log)
    try:
        wait_for(lambda: f"⏸ {ASKED}" in log.read_text(), timeout=120, what=ASKED, process=process)
        run_id = run_id_in(log.read_text())
        status = autoagent("status", run_id, env=env)
        assert "approval  waiting" in status.stdout, status.stdout
        assert "writer wants to call publish" in status.stdout
        approved = autoagent("approve", run_id, "--step", ASKED, "--comment", "ship", env=env)
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert process.wait(timeout=120) == 0, log.read_text()
    finally:
        kill_group(process)
    assert "✓ mission research  Completed" in log.read_text()
    [published] = out_dir.glob("*.md")
    assert published.name == "durable-by-design.md"
    assert "persisted" in published.read_text()
    status = autoagent("status", run_id, env=env)
    assert status.returncode == 0, status.stderr
    assert "call-3  completed" in status.stdout  # the third researcher
    assert "approval  completed" in status.stdout, status.stdout


def test_the_research_mission_in_code_runs_offline(prefect_server, replay, tmp_path):
    env = cli_env({**prefect_server.env(), "RESEARCH_OUT": str(tmp_path), "PYTHONPATH": str(ROOT)})
    done = subprocess.run(
        [sys.executable, "-m", "flows.research", "--auto-approve", "--notes-url", replay],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout[done.stdout.index("{") :])
    assert result["report"]["title"] == "Durable by design"
    assert result["tokens"] > 0 and result["cost"] > 0
    assert (tmp_path / "durable-by-design.md").exists()
