"""The ``llm`` agent: one OpenAI-compatible chat completion over httpx.

The endpoint, model and secret key come from a saved LLM provider block (agents/provider.py). The
client never retries: provider errors become error kinds and the step's policy decides
(``retry_on: [rate_limit]``). A bad request, a refused key or an unknown model are not retryable.
The key is sent in a header and nowhere else; it is scrubbed from any message that might echo it.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from autoagent.agents.base import AgentContext, AgentInput, BaseAgent
from autoagent.errors import HttpTransportError, ProviderError, StepTimeout

_EXCERPT_CHARS = 300


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


# status → (kind, retryable)
_STATUS_KINDS: dict[int, tuple[str, bool]] = {
    400: ("bad_request", False),
    401: ("auth", False),
    403: ("auth", False),
    404: ("bad_request", False),
    408: ("timeout", True),
    409: ("provider", True),
    413: ("bad_request", False),
    422: ("bad_request", False),
    429: ("rate_limit", True),
}


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
        if timeout is None:
            timeout = provider.timeout_seconds
        elif timeout <= 0:
            raise StepTimeout(f"llm {model}: no time left before the step timeout")
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        where = f"llm {model} at {provider.endpoint}"
        try:
            with httpx.Client(timeout=timeout, transport=httpx.HTTPTransport(retries=0)) as c:
                response = c.post(provider.url(), json=body, headers=headers)
        except httpx.TimeoutException:
            raise StepTimeout(f"{where} timed out after {timeout:.3g}s") from None
        except httpx.RequestError as e:
            message = _scrub(f"{where} failed: {type(e).__name__}: {e}", secret)
            raise HttpTransportError(message) from None
        if response.status_code >= 400:
            raise _provider_error(where, response, secret)
        return _answer(where, response, input.response_format, model)


def _provider_error(where: str, response: httpx.Response, secret: str) -> ProviderError:
    status = response.status_code
    kind, retryable = _STATUS_KINDS.get(status, ("provider", status >= 500))
    detail = response.text[:_EXCERPT_CHARS]
    with contextlib.suppress(ValueError, KeyError, TypeError):
        detail = response.json()["error"]["message"][:_EXCERPT_CHARS]
    message = _scrub(f"{where} answered HTTP {status} ({kind}): {detail}", secret)
    return ProviderError(message, kind=kind, retryable=retryable)


def _answer(where: str, response: httpx.Response, fmt: str, model: str) -> LLMOutput:
    try:
        data = response.json()
        choice = data["choices"][0]
        content = choice["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError):
        raise ProviderError(
            f"{where} answered something that is not a chat completion: "
            f"{response.text[:_EXCERPT_CHARS]!r}",
            kind="provider",
        ) from None
    parsed = None
    if fmt == "json":
        try:
            parsed = json.loads(content)
        except ValueError:
            raise ProviderError(
                f"{where} was asked for JSON and answered: {content[:_EXCERPT_CHARS]!r}",
                kind="provider",
            ) from None
    return LLMOutput(
        content=content,
        json=parsed,
        model=data.get("model") or model,
        finish_reason=choice.get("finish_reason"),
        usage=Usage.model_validate(data.get("usage") or {}),
    )


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
