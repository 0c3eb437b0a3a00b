"""Budgets and final answers of an LLM agent, without a model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autoagent.engine.agent_budget import Spent, exhausted, time_left
from autoagent.engine.final_answer import ask_again, checked
from autoagent.spec.agents import AgentDefinition

SCHEMA = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}


def test_a_json_answer_is_checked_against_the_schema():
    agent = AgentDefinition(output_schema=SCHEMA)
    assert checked(agent, '```json\n{"n": 2}\n```') == ({"n": 2}, None)
    assert checked(agent, "two")[1].startswith("it is not JSON")
    assert checked(agent, '{"n": "2"}')[1] == "n: '2' is not of type 'integer'"
    assert checked(AgentDefinition(), "anything") == ("anything", None)
    assert '"required": ["n"]' in ask_again("n: wrong", agent)


def test_each_limit_of_a_budget():
    spent = Spent()
    spent.add(
        {
            "input_tokens": 900,
            "output_tokens": 100,
            "cost": 0.2,
            "started_at": "2026-01-01T00:00:00+00:00",
        }
    )
    assert exhausted(AgentDefinition(budget={"max_turns": 1}), spent, 2) == "max_turns"
    assert exhausted(AgentDefinition(budget={"max_tokens": 1000}), spent, 2) == "max_tokens"
    assert exhausted(AgentDefinition(budget={"max_cost": 0.2}), spent, 2) == "max_cost"
    assert exhausted(AgentDefinition(budget={"timeout": 60}), spent, 2) == "timeout"
    assert exhausted(AgentDefinition(), spent, 2) is None
    fresh = Spent()
    now = datetime.now(UTC)
    assert time_left(AgentDefinition(budget={"timeout": 60}), fresh, now) == 60
    fresh.started = (now - timedelta(seconds=20)).isoformat()
    assert 39 < (time_left(AgentDefinition(budget={"timeout": 60}), fresh, now) or 0) <= 40
