from __future__ import annotations

import autoagent.agents as agents


def test_public_api_is_pinned() -> None:
    assert sorted(agents.__all__) == [
        "Agent",
        "AgentContext",
        "AgentInput",
        "AgentOutput",
        "BaseAgent",
        "agent_names",
        "error_kinds",
        "get_agent",
        "register",
        "run_agent",
        "tool",
        "validate_input",
    ]
    for name in agents.__all__:
        assert getattr(agents, name) is not None


def test_tool_marks_and_returns_the_function() -> None:
    def f() -> None: ...

    assert agents.tool(f) is f
    assert f.__autoagent_tool__ is True  # type: ignore[attr-defined]
