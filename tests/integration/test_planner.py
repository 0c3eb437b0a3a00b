"""The planner agent on a real Prefect server: a plan from a Python tool or from an LLM (the local
OpenAI-compatible server, a recorded answer) is validated like a spec and runs as a sub-mission;
an invalid plan fails naming the planner step and the offenders."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.cli import lines_in
from tests.llm_server import LLMServer
from tests.missions import run_mission

pytestmark = [pytest.mark.integration]


def _planned(planner_input: dict, *after: dict) -> dict:
    return {
        "name": f"planned-{uuid.uuid4().hex[:6]}",
        "params": {"topic": "durability"},
        "steps": [{"id": "plan", "agent": "planner", "input": planner_input}, *after],
    }


def test_a_plan_from_a_tool_runs_as_a_sub_mission(prefect_api, tmp_path):
    use = {
        "id": "use",
        "agent": "echo",
        "needs": ["plan"],
        "input": {"value": "{{ steps.plan.output.outputs.three.exit_code }}"},
    }
    run = run_mission(
        _planned(
            {"function": "tests.planners:three_steps", "kwargs": {"folder": str(tmp_path)}}, use
        )
    )
    assert run.state.is_completed(), run.state.message
    assert [lines_in(tmp_path, n) for n in ("planned", "one", "two", "three")] == [1, 1, 1, 1]
    plan = run.outputs()["plan"]
    assert [s["id"] for s in plan["steps"]] == ["one", "two", "three"]
    assert run.outputs()["use"] == 0
    tree = [(s.path, s.state) for s in run.status.walk()]
    assert tree == [
        ("plan", "completed"),
        ("plan/one", "completed"),
        ("plan/two", "completed"),
        ("plan/three", "completed"),
        ("use", "completed"),
    ]


def test_an_invalid_plan_fails_naming_the_planner_and_the_offenders(prefect_api):
    run = run_mission(_planned({"function": "tests.planners:broken"}))
    assert run.state.is_failed()
    error = run.step("plan").error or ""
    assert "field 'plan': the planner wrote an invalid plan" in error, error
    assert run.step("plan").state == "failed" and not run.status.find("plan").children
    assert "step 'lost', field 'needs': unknown step 'nowhere'" in error, error
    assert "step 'odd', field 'agent': unknown agent 'no-such-agent'" in error, error


@pytest.fixture()
def llm(prefect_api) -> Iterator[tuple[LLMServer, str]]:
    from autoagent.agents.provider import LLMProvider

    server = LLMServer()
    name = f"planner-llm-{uuid.uuid4().hex[:6]}"
    LLMProvider(endpoint=server.endpoint, model="gpt-4o-mini", api_key="sk-plan").save(name)
    yield server, name
    server.close()


def test_an_llm_writes_the_plan(llm):
    server, provider = llm
    server.reply((200, "plan"))
    goal = {"goal": "Research {{ params.topic }}", "provider": provider, "agents": ["echo"]}
    run = run_mission(_planned(goal))
    assert run.state.is_completed(), run.state.message
    outputs = run.outputs()["plan"]["outputs"]
    assert outputs == {
        "gather": "facts about durability",
        "summarise": "summary of facts about durability",
    }
    assert run.outputs()["plan"]["steps"][0]["id"] == "gather"
    [asked] = server.requests
    system, user = asked["body"]["messages"]
    assert "echo" in system["content"] and user["content"] == "Research durability"
    assert asked["body"]["response_format"] == {"type": "json_object"}
