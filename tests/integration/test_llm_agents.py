"""LLM agents that loop over tools, on a real Prefect server against a local model server (real
HTTP, both wire formats): tools run with the model's arguments and their results go back in
order; bad calls, budgets, output schemas, refusals and rate limits end or go on as specified; a
tool call waits for a person; agents delegate and hand off; the key is kept nowhere."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.logging.handlers import APILogWorker

from autoagent.agents import tool
from autoagent.api import answers
from tests.background import Background
from tests.missions import run_mission
from tests.model_server import ModelServer, Turn, call, refuse, say

pytestmark = [pytest.mark.integration]

SECRET = f"sk-agent-{uuid.uuid4().hex}"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


ADD = "tests.integration.test_llm_agents:add"


@pytest.fixture(scope="module")
def model_server() -> Iterator[ModelServer]:
    server = ModelServer()
    yield server
    server.close()


@pytest.fixture()
def providers(prefect_api, model_server) -> dict[str, str]:
    """One provider block per wire format, with the same key and prices."""
    from autoagent.agents.provider import LLMProvider

    names = {}
    for api in ("openai", "anthropic"):
        name = f"agents-{api}-{uuid.uuid4().hex[:6]}"
        LLMProvider(
            endpoint=model_server.endpoint,
            api=api,
            model=f"{api}-model",
            api_key=SECRET,
            input_price=1.0,
            output_price=2.0,
        ).save(name)
        names[api] = name
    return names


def _mission(agents: dict[str, Any], *steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": f"agents-{uuid.uuid4().hex[:6]}", "agents": agents, "steps": list(steps)}


def _key() -> str:
    return f"conversation-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_the_agent_calls_its_tools_and_answers(providers, model_server, api, tmp_path):
    key = _key()
    model_server.script(
        key,
        call(
            ("shell", {"command": f"echo hi >> {tmp_path}/ran; echo hi"}), ("add", {"a": 2, "b": 3})
        ),
        say("hi and 5", tokens=(300, 40)),
    )
    agent = {
        "provider": providers[api],
        "system": f"You help. {key}",
        "tools": [{"agent": "shell"}, {"function": ADD}],
    }
    run = run_mission(
        _mission(
            {"helper": agent},
            {"id": "ask", "agent": "helper", "input": {"prompt": "Say hi and add 2 and 3."}},
        )
    )
    assert run.state.is_completed(), run.state.message
    out = run.outputs()["ask"]
    assert out["answer"] == "hi and 5" and out["stopped"] == "answer"
    assert [t["tools"] for t in out["turns"]] == [["shell", "add"], []]
    assert out["usage"] == {"input_tokens": 400, "output_tokens": 60, "cost": 0.00052}
    assert model_server.seen(key) == {1: 1, 2: 1}
    assert (tmp_path / "ran").read_text() == "hi\n"
    first, second = (r["body"] for r in model_server.of(key))
    if api == "openai":
        told = {t["function"]["name"]: t["function"]["parameters"] for t in first["tools"]}
        assert "command" in told["shell"]["properties"] and told["add"]["required"] == ["a", "b"]
        results = second["messages"][-2:]
        assert [(m["role"], m["tool_call_id"]) for m in results] == [
            ("tool", "call_1_1"),
            ("tool", "call_1_2"),
        ]
        assert json.loads(results[0]["content"])["stdout"] == "hi" and results[1]["content"] == "5"
        assert first["messages"][0] == {"role": "system", "content": f"You help. {key}"}
    else:
        told = {t["name"]: t["input_schema"] for t in first["tools"]}
        assert "command" in told["shell"]["properties"] and first["system"] == f"You help. {key}"
        blocks = second["messages"][-1]["content"]
        assert [(b["type"], b["tool_use_id"]) for b in blocks] == [
            ("tool_result", "toolu_1_1"),
            ("tool_result", "toolu_1_2"),
        ]
        assert blocks[1]["content"] == "5"
    turn = run.step("ask/turn-1")
    assert sorted(c.id for c in turn.children) == ["call-1", "call-2", "model"]
    assert all(c.state == "completed" for c in turn.children)
    said = run.step("ask/turn-1/model").note or ""  # what `autoagent status` shows of a turn
    assert said == f"helper on {api}-model: 100+20 tokens, cost 0.000140; calls shell, add"
    assert run.step("ask/turn-1/call-2").note == "5"
    report, conversation = _artifacts(run.id)
    assert "## `ask`: agent helper" in report and "| 1 | helper | " in report
    assert "| **all** | | | 400 | 60 | 0.00052 |" in report
    assert "→ calls `add` with `{" in report and "**assistant**: hi and 5" in report
    assert "| 2 | helper | " in conversation and "### Transcript" not in conversation


def _artifacts(run_id: str) -> tuple[str, str]:
    """The mission report and the (one) conversation artifact of a run."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    report = [a.data for a in found if (a.key or "").startswith("mission-")]
    conversation = [a.data for a in found if (a.description or "").startswith("Conversation")]
    assert len(report) == 1 and len(conversation) == 1, found
    return str(report[0]), str(conversation[0])


def test_bad_calls_go_back_to_the_model_until_too_many(providers, model_server):
    key, strict = _key(), _key()
    bad = [call(("add", "{not json")), call(("nope", {})), call(("add", {"a": "x", "b": 1}))]
    model_server.script(key, *bad, say("fine"))
    model_server.script(strict, *bad, say("fine"))

    def agent(marker: str, errors: int) -> dict[str, Any]:
        return {
            "provider": providers["openai"],
            "system": marker,
            "tools": [{"function": ADD}],
            "tool_errors": errors,
        }

    run = run_mission(
        _mission(
            {"lenient": agent(key, 3), "strict": agent(strict, 1)},
            {"id": "a", "agent": "lenient", "input": {"prompt": "add"}},
            {"id": "b", "agent": "strict", "input": {"prompt": "add"}},
        )
    )
    assert run.step("a").state == "completed"
    told = [
        m["content"] for m in model_server.of(key)[3]["body"]["messages"] if m["role"] == "tool"
    ]
    assert "are not JSON" in told[0]
    assert "there is no tool 'nope'; the tools are: add" in told[1]
    assert "a: Input should be a valid integer" in told[2]
    assert run.step("b").state == "failed"
    assert "more than 1 bad tool calls" in (run.step("b").error or "")
    assert model_server.seen(strict) == {1: 1, 2: 1}


def test_each_budget_ends_the_step(providers, model_server):
    loops = [call(("add", {"a": 1, "b": 1}), tokens=(500, 100)) for _ in range(6)]
    keys = {name: _key() for name in ("turns", "tokens", "cost", "kept", "time")}
    for key in keys.values():
        model_server.script(key, *loops)
    slow = call(("add", {"a": 1, "b": 1}), delay=10)
    model_server.script(keys["time"], call(("add", {"a": 1, "b": 1}), delay=0.5), slow)
    budgets = {
        "turns": {"max_turns": 2},
        "tokens": {"max_tokens": 1000},
        "cost": {"max_cost": 0.0012},  # 500 in + 100 out = 0.0007 a turn
        "kept": {"max_turns": 3, "on_exhausted": "return"},
        "time": {"timeout": 2},  # the second request is cut when the budget's time is out
    }
    agents = {
        name: {
            "provider": providers["openai"],
            "system": keys[name],
            "tools": [{"function": ADD}],
            "budget": budget,
        }
        for name, budget in budgets.items()
    }
    steps = [{"id": name, "agent": name, "input": {"prompt": "loop"}} for name in agents]
    run = run_mission(_mission(agents, *steps))
    ends = [("turns", "max_turns"), ("tokens", "max_tokens"), ("cost", "max_cost")]
    for name, limit in [*ends, ("time", "timeout")]:
        step = run.step(name)
        assert step.state == "failed", name
        assert f"reached its budget: {limit}" in (step.error or ""), step.error
    assert model_server.seen(keys["turns"]) == {1: 1, 2: 1}
    assert model_server.seen(keys["tokens"]) == {1: 1, 2: 1}  # 600, then 1200 >= 1000
    assert model_server.seen(keys["cost"]) == {1: 1, 2: 1}  # 0.0007, then 0.0014 >= 0.0012
    kept = run.outputs()["kept"]
    assert kept["stopped"] == "budget:max_turns" and len(kept["turns"]) == 3


def test_an_answer_that_misses_the_schema_is_asked_again_once(providers, model_server):
    good, bad = _key(), _key()
    model_server.script(
        good, say("Here it is: title?"), say('```json\n{"title": "T", "n": 2}\n```')
    )
    model_server.script(bad, say("no"), say("still no"))
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["title", "n"],
    }
    agents = {
        name: {"provider": providers["anthropic"], "system": key, "output_schema": schema}
        for name, key in (("good", good), ("bad", bad))
    }
    run = run_mission(
        _mission(
            agents,
            {"id": "g", "agent": "good", "input": {"prompt": "report"}},
            {"id": "b", "agent": "bad", "input": {"prompt": "report"}},
        )
    )
    assert run.outputs()["g"]["answer"] == {"title": "T", "n": 2}
    asked_again = model_server.of(good)[1]["body"]["messages"][-1]
    assert "does not fit the required output" in json.dumps(asked_again)
    assert run.step("b").state == "failed" and "output schema" in (run.step("b").error or "")
    assert model_server.seen(bad) == {1: 1, 2: 1}


def test_a_refusal_fails_and_a_rate_limit_is_retried_by_the_policy(providers, model_server):
    refused, limited = _key(), _key()
    model_server.script(refused, refuse("I can't help with that."))
    model_server.script(limited, say("after the wait", rate_limited=1))
    agents = {
        "refuser": {"provider": providers["openai"], "system": refused},
        "limited": {"provider": providers["anthropic"], "system": limited},
    }
    run = run_mission(
        _mission(
            agents,
            {"id": "r", "agent": "refuser", "input": {"prompt": "do it"}},
            {
                "id": "l",
                "agent": "limited",
                "input": {"prompt": "do it"},
                "retries": 1,
                "retry_on": ["rate_limit"],
                "retry_backoff": {"base_seconds": 0.1},
            },
        )
    )
    assert run.step("r").state == "failed" and "refused" in (run.step("r").error or "")
    assert run.outputs()["l"]["answer"] == "after the wait"
    assert model_server.seen(limited) == {1: 2} and run.step("l").attempts == 2


def test_a_supervisor_delegates_and_a_triage_hands_off(providers, model_server):
    boss, expert, triage, writer = _key(), _key(), _key(), _key()
    model_server.script(boss, call(("ask_expert", {"task": "What is 2+3?"})), say("expert says 5"))
    model_server.script(expert, call(("add", {"a": 2, "b": 3})), say("5"))
    model_server.script(triage, call(("transfer_to_writer", {"reason": "prose"})))
    model_server.script(writer, say("unused"), say("A fine text."))
    agents = {
        "boss": {
            "provider": providers["openai"],
            "system": boss,
            "tools": [{"delegate": "expert"}],
        },
        "expert": {
            "provider": providers["anthropic"],
            "system": expert,
            "description": "an arithmetic expert",
            "tools": [{"function": ADD}],
        },
        "triage": {"provider": providers["openai"], "system": triage, "handoffs": ["writer"]},
        "writer": {"provider": providers["openai"], "system": writer},
    }
    run = run_mission(
        _mission(
            agents,
            {"id": "solve", "agent": "boss", "input": {"prompt": "2+3?"}},
            {"id": "route", "agent": "triage", "input": {"prompt": "Write it up."}},
        )
    )
    assert run.state.is_completed(), run.state.message
    solved = run.outputs()["solve"]
    assert solved["answer"] == "expert says 5"
    told = model_server.of(boss)[1]["body"]["messages"][-1]
    assert told["role"] == "tool" and told["content"] == "5"
    assert model_server.seen(expert) == {1: 1, 2: 1}
    assert run.step("solve/turn-1/call-1/turn-1/call-1").state == "completed"
    routed = run.outputs()["route"]
    assert routed["agent"] == "writer" and routed["answer"] == "A fine text."
    assert model_server.seen(triage) == {1: 1} and model_server.seen(writer) == {2: 1}
    second = model_server.of(writer)[0]["body"]  # the writer's system prompt, the whole talk
    assert second["messages"][0]["content"] == writer
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]


def test_a_tool_call_waits_for_a_person_who_approves_rejects_or_edits_it(
    providers, model_server, tmp_path
):
    key, log = _key(), tmp_path / "ran.log"
    model_server.script(
        key,
        call(("shell", {"command": f"echo A >> {log}"})),
        call(("shell", {"command": f"echo B >> {log}"})),
        call(("shell", {"command": f"echo C >> {log}"})),
        say("done"),
    )
    agent = {
        "provider": providers["anthropic"],
        "system": key,
        "tools": [{"agent": "shell", "approval": True}],
    }
    run = Background(
        _mission({"ops": agent}, {"id": "ops", "agent": "ops", "input": {"prompt": "go"}})
    )
    asked = run.until_waiting("ops/turn-1/call-1/approval")
    assert asked["title"] == "ops wants to call shell"
    answers.approve(run.id, "ops/turn-1/call-1/approval", comment="fine")
    run.until_waiting("ops/turn-2/call-1/approval")
    answers.approve(run.id, "ops/turn-2/call-1/approval", approved=False, comment="not B")
    run.until_waiting("ops/turn-3/call-1/approval")
    edited = json.dumps({"command": f"echo EDITED >> {log}"})
    answers.approve(run.id, "ops/turn-3/call-1/approval", fields={"arguments": edited})
    done = run.finish()
    assert done.state.is_completed(), done.state.message
    assert log.read_text().split() == ["A", "EDITED"]
    told = [r["body"]["messages"][-1]["content"][0] for r in model_server.of(key)[1:]]
    assert [t["is_error"] for t in told] == [False, True, False]
    assert told[1]["content"] == "A person rejected this call: not B"
    assert told[2]["content"].startswith(f"(a person changed the arguments to {edited}) ")
    assert model_server.seen(key) == {1: 1, 2: 1, 3: 1, 4: 1}
    assert done.step("ops/turn-2/call-1/approval").state == "completed"


def test_the_key_is_nowhere_the_server_or_the_results_keep(
    providers, model_server, prefect_server, tmp_path
):
    from autoagent.settings import get_settings

    ok, careless = _key(), _key()
    model_server.script(ok, call(("add", {"a": 1, "b": 2})), say("3"))
    model_server.script(careless, Turn(echo_key=True))
    agents = {
        "ok": {"provider": providers["anthropic"], "system": ok, "tools": [{"function": ADD}]},
        "careless": {"provider": providers["openai"], "system": careless},
    }
    run = run_mission(
        _mission(
            agents,
            {"id": "fine", "agent": "ok", "input": {"prompt": "add"}},
            {"id": "leaky", "agent": "careless", "input": {"prompt": "hi"}},
        )
    )
    assert run.step("fine").state == "completed"
    assert run.step("leaky").state == "failed" and "invalid key" in (run.step("leaky").error or "")
    sent = [r["headers"] for r in model_server.of(ok) + model_server.of(careless)]
    assert [h.get("x-api-key") or h.get("Authorization") for h in sent] == [
        SECRET,
        SECRET,
        f"Bearer {SECRET}",
    ]
    APILogWorker.drain_all(timeout=10)
    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", prefect_server.database],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert run.id in dump  # the dump holds this run's records
    assert (
        "invalid key Bearer ***" in dump
    )  # the failure's message, scrubbed, is in the server's records
    assert SECRET not in dump
    results = [p for p in Path(get_settings().results_dir).rglob("*") if p.is_file()]
    assert results, "no persisted results: nothing was searched"
    assert not [p for p in results if SECRET in p.read_text(errors="replace")]


def test_the_same_agents_in_code_and_as_a_spec_give_the_same_status_tree(providers, model_server):
    from autoagent import Agent, Tool, mission
    from tests.missions import read_status

    def script() -> tuple[str, str]:
        boss, expert = _key(), _key()
        model_server.script(
            boss,
            call(("ask_expert", {"task": "2+3?"}), ("shell", {"command": "echo hi"})),
            say("5 and hi"),
        )
        model_server.script(expert, call(("add", {"a": 2, "b": 3})), say("5"))
        return boss, expert

    boss, expert = script()
    spec_run = run_mission(
        _mission(
            {
                "boss": {
                    "provider": providers["openai"],
                    "system": boss,
                    "tools": [{"delegate": "expert"}, {"agent": "shell", "name": "shell"}],
                },
                "expert": {
                    "provider": providers["openai"],
                    "system": expert,
                    "tools": [{"function": ADD}],
                },
            },
            {"id": "solve", "agent": "boss", "input": {"prompt": "go"}},
        )
    )
    boss, expert = script()
    expert_agent = Agent("expert", provider=providers["openai"], system=expert, tools=[add])
    boss_agent = Agent(
        "boss", provider=providers["openai"], system=boss, tools=[expert_agent, Tool("shell")]
    )

    @mission(name=f"code-agents-{uuid.uuid4().hex[:6]}")
    def solve() -> Any:
        return boss_agent.run("go", step="solve")

    state = solve(return_state=True)
    assert state.is_completed(), state.message
    assert state.result()["answer"] == "5 and hi"
    code_tree = read_status(str(state.state_details.flow_run_id))

    def shape(tree: Any) -> list[tuple[str, str]]:
        return [(s.path, s.state) for s in tree.walk()]

    assert shape(code_tree) == shape(spec_run.status)
    assert ("solve/turn-1/call-1/turn-1/call-1", "completed") in shape(code_tree)
    assert model_server.seen(boss) == {1: 1, 2: 1} and model_server.seen(expert) == {1: 1, 2: 1}


def test_an_agent_in_code_is_checked_before_it_runs(prefect_api):
    from autoagent import Agent
    from autoagent.errors import AutoAgentError

    with pytest.raises(AutoAgentError, match=r"agent 'bad': budget\.max_turns"):
        Agent("bad", max_turns=0)
    with pytest.raises(AutoAgentError, match="is not a tool: decorate it"):
        Agent("plain", tools=[len])
    with pytest.raises(AutoAgentError, match="agent 'Bad Name'"):
        Agent("Bad Name")


def test_a_spec_file_is_a_tool_run_as_a_sub_mission(providers, model_server, tmp_path):
    key, log = _key(), tmp_path / "packed.log"
    (tmp_path / "pack.yaml").write_text(
        json.dumps(
            {
                "name": "pack",
                "description": "packing a box",
                "params": {"label": "none", "count": 1},
                "steps": [
                    {
                        "id": "box",
                        "agent": "shell",
                        "input": {"command": f"echo {{{{ params.label }}}} >> {log}; echo boxed"},
                    },
                    {
                        "id": "twice",
                        "agent": "echo",
                        "needs": ["box"],
                        "input": {"value": "{{ params.count * 2 }}"},
                    },
                ],
            }
        )
    )
    model_server.script(
        key,
        call(("pack", {"label": "ok", "count": 4})),
        call(("pack", {"label": "x", "colour": "red"})),
        say("packed"),
    )
    spec = tmp_path / "main.yaml"
    spec.write_text(
        json.dumps(
            _mission(
                {
                    "packer": {
                        "provider": providers["openai"],
                        "system": key,
                        "tools": [{"mission": "pack.yaml"}],
                    }
                },
                {"id": "job", "agent": "packer", "input": {"prompt": "pack it"}},
            )
        )
    )
    from autoagent.spec import load
    from tests.missions import run_loaded

    run = run_loaded(load(spec))
    assert run.state.is_completed(), run.state.message
    assert log.read_text().split() == ["ok"]  # the bad call never ran
    first, second = (r["body"] for r in model_server.of(key)[1:])
    result = json.loads(first["messages"][-1]["content"])
    assert result["twice"] == 8 and result["box"]["stdout"] == "boxed"
    assert "not valid" in second["messages"][-1]["content"]
    told = model_server.of(key)[0]["body"]["tools"][0]["function"]
    assert told["parameters"]["properties"]["count"] == {"type": "integer", "default": 1}
    assert "packing a box" in told["description"]
    assert run.step("job/turn-1/call-1").state == "completed"
    assert run.step("job/turn-1/call-1/twice").state == "completed"


def test_a_mission_in_code_is_a_tool(providers, model_server, tmp_path):
    from autoagent import Agent, Tool, mission, step

    @mission(name="pack")
    def pack(label: str, count: int = 1) -> dict[str, Any]:
        """Pack a box with a label."""
        done = step("box", agent="shell", input={"command": f"echo {label} >> {tmp_path}/packed"})
        return {"box": done["exit_code"], "twice": count * 2}

    key = _key()
    model_server.script(key, call(("pack", {"label": "ok", "count": 3})), say("packed"))
    packer = Agent("packer", provider=providers["openai"], system=key, tools=[Tool(pack)])

    @mission(name=f"code-tool-{uuid.uuid4().hex[:6]}")
    def job() -> Any:
        return packer.run("pack it", step="job")

    state = job(return_state=True)
    assert state.is_completed(), state.message
    told = model_server.of(key)[0]["body"]["tools"][0]["function"]
    assert told["name"] == "pack" and told["description"] == "Pack a box with a label."
    assert told["parameters"]["required"] == ["label"]
    assert json.loads(model_server.of(key)[1]["body"]["messages"][-1]["content"]) == {
        "box": 0,
        "twice": 6,
    }
    assert (tmp_path / "packed").read_text() == "ok\n"
    from tests.missions import read_status

    tree = read_status(str(state.state_details.flow_run_id))
    assert tree.find("job/turn-1/call-1/box") is not None


def test_agents_asking_each_other_stop_at_the_depth_limit(providers, model_server):
    from autoagent.engine.conversation import MAX_DELEGATION_DEPTH

    ping, pong = _key(), _key()
    model_server.script(ping, call(("ask_pong", {"task": "go"})), say("ping done"))
    model_server.script(pong, call(("ask_ping", {"task": "go"})), say("pong done"))
    agents = {
        "ping": {"provider": providers["openai"], "system": ping, "tools": [{"delegate": "pong"}]},
        "pong": {"provider": providers["openai"], "system": pong, "tools": [{"delegate": "ping"}]},
    }
    run = run_mission(_mission(agents, {"id": "rally", "agent": "ping", "input": {"prompt": "go"}}))
    assert run.outputs()["rally"]["answer"] == "ping done"
    deepest = [
        m["content"]
        for r in model_server.of(ping) + model_server.of(pong)
        for m in r["body"]["messages"]
        if m["role"] == "tool" and m["content"].startswith("error")
    ]
    assert deepest == [f"error: agents may delegate {MAX_DELEGATION_DEPTH} deep, not deeper"]
    conversations = model_server.seen(ping)[1] + model_server.seen(pong)[1]
    assert conversations == MAX_DELEGATION_DEPTH + 1


def test_a_fan_out_of_an_agent_holds_one_conversation_per_item(providers, model_server):
    keys = [_key(), _key()]
    for key in keys:
        model_server.script(key, call(("add", {"a": 1, "b": 1})), say(f"done {key}"))
    agent = {"provider": providers["openai"], "system": "You add.", "tools": [{"function": ADD}]}
    run = run_mission(
        _mission(
            {"adder": agent},
            {"id": "many", "agent": "adder", "for_each": keys, "input": {"prompt": "{{ item }}"}},
        )
    )
    assert [o["answer"] for o in run.outputs()["many"]] == [f"done {k}" for k in keys]
    assert [model_server.seen(k) for k in keys] == [{1: 1, 2: 1}, {1: 1, 2: 1}]
    assert run.step("many[1]/turn-1/call-1").state == "completed"
