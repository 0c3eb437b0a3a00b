"""The llm agent's input rules and how provider answers map to error kinds (no server)."""

from __future__ import annotations

import httpx
import pytest

from autoagent.agents import validate_input
from autoagent.agents.chat import provider_error


def test_a_step_gives_a_prompt_or_messages_but_not_both():
    assert validate_input("llm", {"prompt": "hi"}) == []
    assert validate_input("llm", {"messages": [{"role": "user", "content": "hi"}]}) == []
    for wrong in ({}, {"prompt": "a", "messages": []}):
        assert "exactly one of prompt or messages" in validate_input("llm", wrong)[0]
    assert validate_input("llm", {"prompt": "hi", "temperature": 7})  # out of range
    assert validate_input("llm", {"prompt": "hi", "api_key": "sk-x"})  # keys live in the block


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (429, "rate_limit", True),
        (400, "bad_request", False),
        (422, "bad_request", False),
        (401, "auth", False),
        (408, "timeout", True),
        (500, "provider", True),
        (503, "provider", True),
        (418, "provider", False),
    ],
)
def test_provider_answers_become_error_kinds(status, kind, retryable):
    response = httpx.Response(status, json={"error": {"message": "no: key sk-123 refused"}})
    error = provider_error("llm m at http://x", response, "sk-123")
    assert (error.kind, error.retryable) == (kind, retryable)
    assert "sk-123" not in str(error) and "***" in str(error)
