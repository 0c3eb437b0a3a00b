from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from autoagent.agents import (
    Agent,
    AgentContext,
    AgentInput,
    BaseAgent,
    agent_names,
    get_agent,
    register,
    registry,
    run_agent,
    validate_input,
)
from autoagent.errors import AgentInputError, StepError

BUILTINS = ["echo", "fail", "http", "llm", "planner", "python", "shell", "sleep"]


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the built-ins only and no installed entry points."""
    monkeypatch.setattr(registry, "_agents", dict(registry._agents))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    monkeypatch.setattr(registry, "entry_points", lambda group: [])


def ctx() -> AgentContext:
    return AgentContext(mission="m", step_path="s")


class GreetInput(AgentInput):
    who: str


class GreetAgent(BaseAgent):
    name = "greet"
    input_model = GreetInput
    idempotent = True
    error_kinds = frozenset()

    def run(self, ctx: AgentContext, input: GreetInput) -> dict[str, str]:
        return {"greeting": f"hello {input.who}"}


class AsyncGreetAgent(GreetAgent):
    name = "async-greet"

    async def run(self, ctx: AgentContext, input: GreetInput) -> dict[str, str]:  # type: ignore[override]
        await asyncio.sleep(0)
        return {"greeting": f"hi {input.who}"}


@dataclass
class FakeEntryPoint:
    name: str
    value: str
    target: Any

    def load(self) -> Any:
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


@pytest.mark.parametrize("name", BUILTINS)
def test_builtins_declare_the_protocol(name: str) -> None:
    agent = get_agent(name)
    assert isinstance(agent, Agent)
    assert agent.name == name
    assert isinstance(agent.idempotent, bool)
    assert isinstance(agent.error_kinds, frozenset)
    assert agent.input_model.model_config.get("extra") == "forbid"


def test_agent_names_lists_builtins() -> None:
    assert agent_names() == BUILTINS


def test_unknown_agent_lists_known_names() -> None:
    with pytest.raises(KeyError) as info:
        get_agent("nope")
    assert str(info.value) == f"unknown agent 'nope'; known agents: {', '.join(BUILTINS)}"


def test_register_class_or_instance_and_run() -> None:
    assert register(GreetAgent) is GreetAgent
    assert run_agent("greet", ctx(), {"who": "ada"}) == {"greeting": "hello ada"}
    instance = AsyncGreetAgent()
    assert register(instance) is instance
    assert get_agent("async-greet") is instance
    assert run_agent(instance, ctx(), {"who": "bob"}) == {"greeting": "hi bob"}


def test_async_agent_inside_a_running_loop() -> None:
    async def main() -> Any:
        return run_agent(AsyncGreetAgent(), ctx(), {"who": "cy"})

    assert asyncio.run(main()) == {"greeting": "hi cy"}


def test_a_taken_name_needs_replace() -> None:
    class OtherEcho(GreetAgent):
        name = "echo"

    with pytest.raises(ValueError, match="taken"):
        register(OtherEcho)
    register(OtherEcho, replace=True)
    assert isinstance(get_agent("echo"), OtherEcho)


def test_register_rejects_non_agents() -> None:
    with pytest.raises(TypeError):
        register(object())


def test_entry_points_are_loaded_once_and_broken_ones_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def fake_entry_points(group: str) -> list[FakeEntryPoint]:
        calls.append(group)
        return [
            FakeEntryPoint("greet", "pkg.agents:GreetAgent", GreetAgent),
            FakeEntryPoint("broken", "pkg.broken:Agent", ImportError("no module pkg.broken")),
            FakeEntryPoint("junk", "pkg.junk:thing", 42),
        ]

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    with caplog.at_level(logging.WARNING, logger=registry.__name__):
        assert "greet" in agent_names()
    assert run_agent("greet", ctx(), {"who": "eve"}) == {"greeting": "hello eve"}
    assert "broken" not in agent_names() and "junk" not in agent_names()
    assert calls == ["autoagent.agents"]
    skipped = [r.getMessage() for r in caplog.records]
    assert any("'broken'" in m for m in skipped) and any("'junk'" in m for m in skipped)


def test_invalid_input_names_every_field_in_one_line() -> None:
    with pytest.raises(AgentInputError) as info:
        run_agent("http", ctx(), {"method": 3, "extra": 1})
    message = str(info.value)
    assert "\n" not in message
    assert "input.url: Field required" in message
    assert "input.method: " in message and "input.extra: " in message
    assert info.value.kind == "input" and not info.value.retryable


def test_unexpected_exceptions_become_step_errors() -> None:
    class Broken(GreetAgent):
        name = "broken"

        def run(self, ctx: AgentContext, input: GreetInput) -> Any:
            raise ZeroDivisionError("oops")

    with pytest.raises(StepError, match="ZeroDivisionError: oops") as info:
        run_agent(Broken(), ctx(), {"who": "x"})
    assert info.value.kind == "error"
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_non_json_output_is_an_output_error() -> None:
    class Odd(GreetAgent):
        def run(self, ctx: AgentContext, input: GreetInput) -> Any:
            return {"when": object()}

    with pytest.raises(StepError) as info:
        run_agent(Odd(), ctx(), {"who": "x"})
    assert info.value.kind == "output"


def test_validate_input_tolerates_templates() -> None:
    assert validate_input("sleep", {"seconds": "{{ params.n }}"}) == []
    assert validate_input("http", {"url": "{{ params.url }}", "expect": "{{ params.codes }}"}) == []
    assert validate_input("http", {"url": "u", "expect": [200, "{{ params.code }}"]}) == []
    assert validate_input("shell", {"command": "x", "check": "{{ params.strict }}"}) == []


def test_validate_input_reports_unknown_missing_and_plain_type_errors() -> None:
    problems = validate_input("sleep", {"seconds": "{{ params.n }}", "extra": "{{ x }}"})
    assert problems == ["input.extra: Extra inputs are not permitted"]
    assert validate_input("http", {}) == ["input.url: Field required"]
    [problem] = validate_input("sleep", {"seconds": "soon"})
    assert problem.startswith("input.seconds: ")


def test_validate_input_unknown_agent() -> None:
    [problem] = validate_input("nope", {})
    assert problem.startswith("unknown agent 'nope'")
