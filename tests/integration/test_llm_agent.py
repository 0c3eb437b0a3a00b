"""The llm agent against a local OpenAI-compatible server (real HTTP, recorded answers), on a real
Prefect server: the provider block's key is sent and never kept; rate limits are retried by the
step's policy, bad requests are not; the secret appears in no log, result, artifact or state."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.llm_server import LLMServer
from tests.missions import run_mission

pytestmark = [pytest.mark.integration]

SECRET = f"sk-test-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def llm_server() -> Iterator[LLMServer]:
    server = LLMServer()
    yield server
    server.close()


@pytest.fixture()
def provider(prefect_api, llm_server) -> str:
    from autoagent.agents.provider import LLMProvider

    name = f"test-llm-{uuid.uuid4().hex[:6]}"
    LLMProvider(endpoint=llm_server.endpoint, model="gpt-4o-mini", api_key=SECRET).save(name)
    return name


def _mission(provider: str, **step: object) -> dict:
    llm = {"id": "ask", "agent": "llm", "input": {"provider": provider, "prompt": "Say it."}}
    llm.update(step)
    return {
        "name": f"llm-{uuid.uuid4().hex[:6]}",
        "steps": [llm, {"id": "use", "agent": "echo", "needs": ["ask"], "input": {"value": "x"}}],
    }


def test_a_completion_comes_back_with_its_usage(provider, llm_server):
    llm_server.reply((200, "chat_completion"))
    run = run_mission(_mission(provider, input={"provider": provider, "prompt": "Say it."}))
    assert run.state.is_completed(), run.state.message
    output = run.outputs()["ask"]
    assert output["content"] == "Durable steps run once."
    assert output["usage"] == {"prompt_tokens": 23, "completion_tokens": 6, "total_tokens": 29}
    assert output["model"] == "gpt-4o-mini-2024-07-18" and output["finish_reason"] == "stop"
    [sent] = llm_server.requests
    assert sent["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert sent["body"] == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Say it."}],
    }


def test_json_answers_are_parsed(provider, llm_server):
    llm_server.reply((200, "chat_completion_json"))
    step_input = {
        "provider": provider,
        "system": "Answer in JSON.",
        "prompt": "Ship?",
        "response_format": "json",
        "model": "gpt-4o",
    }
    run = run_mission(_mission(provider, input=step_input))
    assert run.outputs()["ask"]["json"] == {"verdict": "ship", "risk": 2}
    body = llm_server.requests[0]["body"]
    assert body["model"] == "gpt-4o" and body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_a_rate_limit_is_retried_by_the_step_policy(provider, llm_server):
    llm_server.reply((429, "rate_limit"), (200, "chat_completion"))
    run = run_mission(
        _mission(
            provider,
            retries=2,
            retry_on=["rate_limit"],
            retry_backoff={"base_seconds": 0.2, "jitter": 0},
        )
    )
    assert run.state.is_completed(), run.state.message
    assert len(llm_server.requests) == 2  # one try per attempt: the client itself never retries
    assert run.step("ask").attempts == 2


def test_a_bad_request_is_not_retried(provider, llm_server):
    llm_server.reply(*[(400, "bad_request")] * 4)
    run = run_mission(_mission(provider, retries=3, retry_backoff={"base_seconds": 0.1}))
    assert run.state.is_failed()
    assert len(llm_server.requests) == 1
    step = run.step("ask")
    assert "bad_request" in (step.error or "") and "temperature" in (step.error or "")


def test_an_unknown_provider_is_a_clear_failure(prefect_api):
    run = run_mission(_mission("no-such-provider"))
    assert run.state.is_failed()
    assert "no LLM provider block 'no-such-provider'" in (run.step("ask").error or "")


def test_the_secret_is_in_no_log_result_artifact_or_state(provider, llm_server):
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    from autoagent.server.reader import open_reader
    from autoagent.settings import get_settings

    llm_server.reply((200, "chat_completion"), (429, "rate_limit"), (400, "bad_request"))
    finished = [run_mission(_mission(provider)) for _ in range(2)]
    finished.append(run_mission(_mission(provider, retries=1, retry_on=["rate_limit"])))
    assert sum(len(r["headers"]["Authorization"]) > 0 for r in llm_server.requests) == 3

    seen: list[str] = []
    with get_client(sync_client=True) as client:
        for run in finished:
            with open_reader() as reader:
                ids = [f.id for f in reader.descendants(run.flow_run.id)]
            in_logs = LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids))
            logs = client.read_logs(log_filter=in_logs)
            deadline = time.monotonic() + 15  # the process sends its logs in batches
            while not logs and time.monotonic() < deadline:
                time.sleep(0.2)
                logs = client.read_logs(log_filter=in_logs)
            assert logs, "the runs wrote no logs: nothing was searched"
            seen += [log.message for log in logs]
            seen += [client.read_flow_run(i).model_dump_json() for i in ids]
            in_runs = FlowRunFilter(id=FlowRunFilterId(any_=ids))
            for task_run in client.read_task_runs(flow_run_filter=in_runs):
                seen.append(task_run.model_dump_json())
        artifacts = client.read_artifacts()
        assert artifacts, "no artifacts: nothing was searched"
        seen += [a.model_dump_json() for a in artifacts]
    results = [p for p in Path(get_settings().results_dir).rglob("*") if p.is_file()]
    assert results, "no persisted results: nothing was searched"
    seen += [p.read_text(errors="replace") for p in results]
    leaks = [text[:200] for text in seen if SECRET in text]
    assert not leaks, leaks
