from __future__ import annotations

import asyncio

import pytest

from autoagent.agents import AgentContext, run_agent
from autoagent.errors import AgentInputError, StepError

TOOLS = "agents_tools_for_tests"  # conftest puts this directory on sys.path


def ctx(attempt: int = 1) -> AgentContext:
    return AgentContext(mission="m", step_path="group.step", attempt=attempt)


def call(function: str, *args: object, **kwargs: object) -> object:
    raw = {"function": f"{TOOLS}:{function}", "args": list(args), "kwargs": kwargs}
    return run_agent("python", ctx(attempt=2), raw)


def test_calls_a_tool_with_args_and_kwargs() -> None:
    assert call("add", 2, b=3) == 5
    assert call("add", 2) == 2


def test_async_tool_is_awaited() -> None:
    assert call("async_mul", 6, 7) == 42


def test_async_tool_inside_a_running_loop() -> None:
    async def main() -> object:
        return call("async_mul", 2, 3)

    assert asyncio.run(main()) == 6


def test_ctx_is_injected_when_asked_for() -> None:
    assert call("whoami", greeting="yo") == {"greeting": "yo", "step": "group.step", "attempt": 2}


def test_refuses_functions_that_are_not_tools() -> None:
    raw = {"function": "os:system", "args": ["echo pwned"]}
    with pytest.raises(AgentInputError) as info:
        run_agent("python", ctx(), raw)
    assert str(info.value) == (
        "function 'os:system' is not a registered tool: decorate it with @autoagent.agents.tool"
    )
    assert not info.value.retryable
    with pytest.raises(AgentInputError, match="not a registered tool"):
        call("plain")


@pytest.mark.parametrize("function", ["no_such_module_xyz:f", f"{TOOLS}:missing"])
def test_unimportable_function_is_an_input_error(function: str) -> None:
    with pytest.raises(AgentInputError, match="cannot be imported"):
        run_agent("python", ctx(), {"function": function})


def test_malformed_function_name_is_an_input_error() -> None:
    with pytest.raises(AgentInputError, match=r"input\.function"):
        run_agent("python", ctx(), {"function": "os.system"})


def test_arguments_that_do_not_bind_are_an_input_error() -> None:
    with pytest.raises(AgentInputError, match="cannot take these arguments"):
        call("add", 1, 2, 3)


@pytest.mark.parametrize(
    ("function", "message"),
    [("boom", "ValueError: bad value"), ("async_boom", "RuntimeError: async bad")],
)
def test_other_exceptions_are_wrapped(function: str, message: str) -> None:
    with pytest.raises(StepError) as info:
        call(function)
    assert (str(info.value), info.value.kind) == (message, "error")
    assert isinstance(info.value.__cause__, ValueError | RuntimeError)


def test_step_errors_pass_through() -> None:
    with pytest.raises(StepError) as info:
        call("step_fail")
    assert (str(info.value), info.value.kind) == ("nope", "custom")


def test_output_must_be_json() -> None:
    with pytest.raises(StepError, match="not JSON-serialisable") as info:
        call("not_json")
    assert info.value.kind == "output"
