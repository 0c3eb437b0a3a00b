from __future__ import annotations

import time

import pytest

from autoagent.agents import AgentContext, run_agent
from autoagent.errors import AgentInputError, StepError, StepTimeout


def ctx(attempt: int = 1, timeout: float | None = None) -> AgentContext:
    return AgentContext(mission="m", step_path="s", attempt=attempt, timeout=timeout)


@pytest.mark.parametrize("value", [{"a": [1, 2.5, None]}, [1, "x"], "text", 3, None, True])
def test_echo_returns_its_value(value: object) -> None:
    assert run_agent("echo", ctx(), {"value": value}) == value


def test_echo_requires_value() -> None:
    with pytest.raises(AgentInputError, match=r"input\.value: Field required"):
        run_agent("echo", ctx(), {})


def test_fail_always_fails_with_its_message_and_kind() -> None:
    with pytest.raises(StepError, match="failed on purpose") as info:
        run_agent("fail", ctx(attempt=5), {})
    assert info.value.kind == "fail"
    with pytest.raises(StepError, match="boom") as info:
        run_agent("fail", ctx(), {"message": "boom", "kind": "http_status"})
    assert info.value.kind == "http_status"


def test_fail_times_fails_twice_then_succeeds() -> None:
    for attempt in (1, 2):
        with pytest.raises(StepError) as info:
            run_agent("fail", ctx(attempt=attempt), {"times": 2, "kind": "flaky"})
        assert info.value.kind == "flaky"
    assert run_agent("fail", ctx(attempt=3), {"times": 2}) == {"attempts": 3}


def test_sleep_sleeps() -> None:
    start = time.monotonic()
    assert run_agent("sleep", ctx(), {"seconds": 0.1}) == {"slept": 0.1}
    assert time.monotonic() - start >= 0.1


def test_sleep_honours_the_step_timeout() -> None:
    start = time.monotonic()
    with pytest.raises(StepTimeout) as info:
        run_agent("sleep", ctx(timeout=0.2), {"seconds": 30})
    assert info.value.kind == "timeout"
    assert time.monotonic() - start < 1.0


def test_sleep_rejects_negative_seconds() -> None:
    with pytest.raises(AgentInputError, match=r"input\.seconds"):
        run_agent("sleep", ctx(), {"seconds": -1})
