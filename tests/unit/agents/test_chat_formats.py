"""The neutral conversation translated for each wire format, and each reply read back."""

from __future__ import annotations

import json

from autoagent.agents import chat
from autoagent.agents.provider import LLMProvider

CONVERSATION = [
    {"role": "user", "content": "go"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "c1", "name": "add", "arguments": '{"a": 1}'},
            {"id": "c2", "name": "add", "arguments": "{broken"},
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "name": "add", "content": "2"},
    {"role": "tool", "tool_call_id": "c2", "name": "add", "content": "error", "is_error": True},
    {"role": "user", "content": "again, as JSON"},
]
TOOLS = [chat.Tool("add", "Add.", {"type": "object"})]


def test_anthropic_alternates_roles_and_sends_tool_results_in_one_user_message():
    provider = LLMProvider(endpoint="http://x/v1", api="anthropic", model="m")
    body = chat._anthropic_body("m", "sys", CONVERSATION, TOOLS, provider)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    results = body["messages"][2]["content"]
    assert [b["type"] for b in results] == ["tool_result", "tool_result", "text"]
    assert results[1]["is_error"] is True
    calls = body["messages"][1]["content"]
    assert calls[1]["input"] == {"_unparsed": "{broken"}  # sent back as it came
    assert body["system"] == "sys" and body["max_tokens"] == 4096
    assert body["tools"] == [
        {"name": "add", "description": "Add.", "input_schema": {"type": "object"}}
    ]


def test_openai_keeps_the_arguments_as_text_and_the_system_first():
    body = chat._openai_body("m", "sys", CONVERSATION, TOOLS)
    assert body["messages"][0] == {"role": "system", "content": "sys"}
    assert body["messages"][2]["tool_calls"][1]["function"]["arguments"] == "{broken"
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "2"}


def test_replies_in_both_formats_read_the_same():
    openai = chat._openai_reply(
        {
            "model": "m",
            "choices": [
                {
                    "message": {
                        "content": None,
                        "tool_calls": [
                            {"id": "x", "function": {"name": "add", "arguments": {"a": 1}}}
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2},
        },
        "m",
    )
    anthropic = chat._anthropic_reply(
        {
            "model": "m",
            "content": [{"type": "tool_use", "id": "x", "name": "add", "input": {"a": 1}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 5, "output_tokens": 2},
        },
        "m",
    )
    for reply in (openai, anthropic):
        assert reply.stop == "tool_calls" and (reply.input_tokens, reply.output_tokens) == (5, 2)
        assert json.loads(reply.message["tool_calls"][0]["arguments"]) == {"a": 1}
    refused = chat._openai_reply(
        {"choices": [{"message": {"content": None, "refusal": "no"}, "finish_reason": "stop"}]},
        "m",
    )
    assert refused.stop == "refusal" and refused.refusal == "no"


def test_the_price_of_tokens():
    provider = LLMProvider(endpoint="e", model="m", input_price=3.0, output_price=15.0)
    assert provider.cost(1_000_000, 100_000) == 4.5
    assert provider.url() == "e/chat/completions"
