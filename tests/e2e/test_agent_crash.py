"""An LLM agent's step survives kill -9 mid-conversation: killed during its third turn's tool call,
then ``autoagent resume``: the model server saw each finished turn's request once, each finished
tool ran once, the tool in flight ran again (at least once), and the mission completes."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.cli import autoagent, cli_env, kill_group, run_id_in, start_autoagent, wait_for
from tests.model_server import ModelServer, call, say

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture()
def model_server() -> Iterator[ModelServer]:
    server = ModelServer()
    yield server
    server.close()


def _ran(log: Path) -> Counter:
    return Counter(log.read_text().split()) if log.exists() else Counter()


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_kill_during_the_third_turns_tool_call_then_resume(
    tmp_path, prefect_server, model_server, api
):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from autoagent.agents.provider import LLMProvider

    provider = f"crash-{api}-{uuid.uuid4().hex[:6]}"
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.url}):
        LLMProvider(endpoint=model_server.endpoint, api=api, model="m", api_key="sk-x").save(
            provider
        )
    key, log, slept = f"crash-{uuid.uuid4().hex[:8]}", tmp_path / "tools.log", tmp_path / "slept"
    third = f"echo t3 >> {log}; test -f {slept} || {{ touch {slept}; sleep 60; }}"
    model_server.script(
        key,
        call(("shell", {"command": f"echo t1 >> {log}"})),
        call(("shell", {"command": f"echo t2 >> {log}"})),
        call(("shell", {"command": third})),
        say("all done"),
    )
    spec = tmp_path / "agent.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "crash-agent",
                "agents": {
                    "worker": {"provider": provider, "system": key, "tools": [{"agent": "shell"}]}
                },
                "steps": [
                    {"id": "work", "agent": "worker", "input": {"prompt": "Do three things."}},
                    {"id": "after", "agent": "echo", "needs": ["work"], "input": {"value": 1}},
                ],
            }
        )
    )
    env = cli_env(prefect_server.env())
    out = tmp_path / "run.out"
    process = start_autoagent("run", str(spec), env=env, log=out)
    try:
        wait_for(lambda: slept.exists(), timeout=120, what="the third tool call", process=process)
        time.sleep(3)  # the tool sleeps on; the run's log lines so far reach the server
    finally:
        kill_group(process)
    run_id = run_id_in(out.read_text())
    assert _ran(log) == Counter({"t1": 1, "t2": 1, "t3": 1})
    assert model_server.seen(key) == {1: 1, 2: 1, 3: 1}

    resumed = autoagent("resume", run_id, env=env, timeout=240)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert model_server.seen(key) == {1: 1, 2: 1, 3: 1, 4: 1}  # no finished turn asked again
    assert _ran(log) == Counter({"t1": 1, "t2": 1, "t3": 2})  # the call in flight: once more
    status = autoagent("status", run_id, env=env)
    assert "Completed" in status.stdout, status.stdout
    for unit in ("turn-1", "turn-3", "turn-4", "call-1", "model"):
        assert unit in status.stdout, status.stdout
    assert "after  completed" in status.stdout, status.stdout
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with (
        temporary_settings(updates={PREFECT_API_URL: prefect_server.url}),
        get_client(sync_client=True) as client,
    ):
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    said = [entry.message.split(":")[0] for entry in logs if entry.message.startswith("work/turn-")]
    assert sorted(said) == [f"work/turn-{n}" for n in (1, 2, 3, 4)]  # the resume says no turn twice
