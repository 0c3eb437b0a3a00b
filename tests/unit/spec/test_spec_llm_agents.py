"""A mission's LLM agents (``agents:``): each mistake named before anything runs, with the agent,
the tool and the field; steps that run them take a prompt."""

from __future__ import annotations

from spec_testlib import find, problems_of_data

from autoagent.spec import validate_data


def _spec(agents: dict, **step: object) -> dict:
    ran = {"id": "ask", "agent": "a", "input": {"prompt": "hi"}, **step}
    return {"name": "m", "agents": agents, "steps": [ran]}


def test_every_mistake_across_agents_is_named_at_once():
    problems = problems_of_data(
        _spec(
            {
                "a": {
                    "tools": [{"agent": "shel"}, {"delegate": "nobody"}, {"delegate": "a"}],
                    "handoffs": ["a", "ghost"],
                    "output_schema": {"type": "wat"},
                }
            }
        )
    )
    assert find(problems, field="agents.a.tools[0].agent").message == "unknown agent 'shel'"
    assert "no agent 'nobody'" in find(problems, field="agents.a.tools[1].delegate").message
    assert find(problems, field="agents.a.tools[2].delegate", contains="itself")
    assert find(problems, field="agents.a.handoffs[0]").message == "cannot hand off to itself"
    assert "no agent 'ghost'" in find(problems, field="agents.a.handoffs[1]").message
    assert "not a JSON schema" in find(problems, field="agents.a.output_schema").message
    assert all(p.mission == "m" for p in problems)


def test_a_tool_names_one_target_and_tool_names_are_unique():
    problems = problems_of_data(
        _spec({"a": {"tools": [{"agent": "shell", "function": "m:f"}]}, "b": {}})
    )
    assert "exactly one of agent, function, delegate or mission" in problems[0].message
    problems = problems_of_data(_spec({"a": {"tools": [{"agent": "shell"}, {"agent": "shell"}]}}))
    assert "shell named twice" in problems[0].message


def test_a_step_of_an_agent_takes_a_prompt_and_runs_in_the_missions_process():
    problems = problems_of_data(_spec({"a": {}}, input={"promt": "x"}, runs_on="pool"))
    assert find(problems, step="ask", field="input.prompt", contains="needs a prompt")
    assert find(problems, step="ask", field="input.promt", contains="which takes: prompt")
    assert find(problems, step="ask", field="runs_on", contains="mission's process")


def test_a_broken_agent_does_not_make_its_steps_unknown():
    problems = problems_of_data(_spec({"a": {"budget": {"max_turns": 0}}}))
    assert [p.field for p in problems] == ["agents.a.budget.max_turns"]


def test_a_mission_tool_is_validated_and_inlined(tmp_path):
    (tmp_path / "child.yaml").write_text(
        "name: child\nparams: {n: 1}\nsteps: [{id: s, agent: echo, input: {value: 1}}]\n"
    )
    spec = validate_data(_spec({"a": {"tools": [{"mission": "child.yaml"}]}}), base_dir=tmp_path)
    tool = spec.agents["a"].tools[0]
    assert tool.tool_name == "child" and tool.child is not None
    assert tool.child["params"] == {"n": 1}
    missing = problems_of_data(_spec({"a": {"tools": [{"mission": "nope.yaml"}]}}))
    assert find(missing, field="agents.a.tools[0].mission")
