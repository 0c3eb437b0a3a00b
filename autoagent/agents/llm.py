"""The ``llm`` agent: one OpenAI-compatible chat completion over httpx.

The endpoint, model and secret key come from a saved LLM provider block (agents/provider.py). The
client never retries: provider errors become error kinds and the step's policy decides
(``retry_on: [rate_limit]``). A bad request, a refused key or an unknown model are not retryable.
The key is sent in a header and nowhere else; it is scrubbed from any message that might echo it.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from autoagent.agents.base import AgentContext, AgentInput, BaseAgent
from autoagent.agents.chat import EXCERPT_CHARS, post
from autoagent.errors import AgentInputError, ProviderError


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class LLMInput(AgentInput):
    provider: str = Field("default", description="Name of the saved LLM provider block.")
    prompt: str | None = Field(None, description="The user message (or give `messages`).")
    system: str | None = Field(None, description="A system message put first.")
    messages: list[Message] | None = Field(None, description="The whole conversation.")
    model: str | None = Field(None, description="Overrides the provider's model.")
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0)
    response_format: Literal["text", "json"] = Field(
        "text", description="json: ask for a JSON object and parse the answer into `json`."
    )

    @model_validator(mode="after")
    def _something_to_say(self) -> LLMInput:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt or messages")
        return self

    def conversation(self) -> list[dict[str, str]]:
        said = [m.model_dump() for m in self.messages or []]
        if self.prompt is not None:
            said.append({"role": "user", "content": self.prompt})
        if self.system is not None:
            said.insert(0, {"role": "system", "content": self.system})
        return said


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class LLMOutput(BaseModel):
    content: str
    json_: Any = Field(None, alias="json", description="The parsed answer (response_format json).")
    model: str
    finish_reason: str | None = None
    usage: Usage

    model_config = ConfigDict(populate_by_name=True)


class LLMAgent(BaseAgent):
    """Sends the conversation; output ``{content, json, model, finish_reason, usage}``."""

    name = "llm"
    input_model = LLMInput
    output_model = LLMOutput
    idempotent = False
    error_kinds = frozenset(
        {"rate_limit", "bad_request", "auth", "provider", "timeout", "http_transport", "input"}
    )

    def run(self, ctx: AgentContext, input: LLMInput) -> LLMOutput:
        from autoagent.agents.provider import load_provider  # Prefect: not to validate a spec

        provider = load_provider(input.provider)
        if provider.api != "openai":
            raise AgentInputError(
                f"the llm agent speaks OpenAI-compatible chat completions; provider"
                f" {input.provider!r} is {provider.api!r}: use an LLM agent (`agents:`) instead"
            )
        secret = provider.api_key.get_secret_value() if provider.api_key else ""
        model = input.model or provider.model
        body: dict[str, Any] = {"model": model, "messages": input.conversation()}
        if input.temperature is not None:
            body["temperature"] = input.temperature
        if input.max_tokens is not None:
            body["max_tokens"] = input.max_tokens
        if input.response_format == "json":
            body["response_format"] = {"type": "json_object"}
        timeout = ctx.remaining()
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        where = f"llm {model} at {provider.endpoint}"
        response = post(
            provider.url(),
            body,
            headers,
            timeout=provider.timeout_seconds if timeout is None else timeout,
            where=where,
            secret=secret,
        )
        return _answer(where, response, input.response_format, model)


def _answer(where: str, response: httpx.Response, fmt: str, model: str) -> LLMOutput:
    try:
        data = response.json()
        choice = data["choices"][0]
        content = choice["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError):
        raise ProviderError(
            f"{where} answered something that is not a chat completion: "
            f"{response.text[:EXCERPT_CHARS]!r}",
            kind="provider",
        ) from None
    parsed = None
    if fmt == "json":
        try:
            parsed = json.loads(content)
        except ValueError:
            raise ProviderError(
                f"{where} was asked for JSON and answered: {content[:EXCERPT_CHARS]!r}",
                kind="provider",
            ) from None
    return LLMOutput(
        content=content,
        json=parsed,
        model=data.get("model") or model,
        finish_reason=choice.get("finish_reason"),
        usage=Usage.model_validate(data.get("usage") or {}),
    )
