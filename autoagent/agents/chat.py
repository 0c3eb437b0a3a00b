"""One model request with tools, in either wire format: OpenAI-compatible chat completions
(OpenAI, vLLM, Ollama, llama.cpp's server, LiteLLM) or Anthropic's Messages API.

A conversation is kept in one neutral form (plain JSON, persisted turn by turn by the engine):

- ``{"role": "user", "content": str}``
- ``{"role": "assistant", "content": str, "tool_calls": [{"id", "name", "arguments": str}]}``
  (``arguments`` as the model wrote them: JSON text that may be malformed)
- ``{"role": "tool", "tool_call_id", "name", "content": str, "is_error": bool}``

and translated for the provider's API on each request. The client never retries: provider
errors become error kinds (``rate_limit``, ``timeout``, ...) for the step's ``retry_on``. The key
goes in a header and nowhere else; any message that might echo it is scrubbed.
"""

from __future__ import annotations

import contextlib
import functools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:  # the block brings Prefect, which validating a spec does not need
    from autoagent.agents.provider import LLMProvider
from autoagent.errors import HttpTransportError, ProviderError, StepTimeout

EXCERPT_CHARS = 300
ANTHROPIC_VERSION = "2023-06-01"

STATUS_KINDS: dict[int, tuple[str, bool]] = {
    400: ("bad_request", False),
    401: ("auth", False),
    403: ("auth", False),
    404: ("bad_request", False),
    408: ("timeout", True),
    409: ("provider", True),
    413: ("bad_request", False),
    422: ("bad_request", False),
    429: ("rate_limit", True),
    529: ("rate_limit", True),  # Anthropic: overloaded
}
"""HTTP status → (error kind, retryable)."""


@dataclass(frozen=True)
class Tool:
    """What the model is told about one tool."""

    name: str
    description: str
    schema: dict[str, Any]


@dataclass
class Reply:
    """The model's answer to one request, in the neutral form."""

    message: dict[str, Any]
    """The assistant message to append to the conversation."""
    model: str
    stop: str
    """``answer``, ``tool_calls``, ``max_tokens`` or ``refusal``."""
    input_tokens: int = 0
    output_tokens: int = 0
    refusal: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def complete(
    provider: LLMProvider,
    *,
    model: str,
    system: str,
    messages: list[dict[str, Any]],
    tools: list[Tool],
    timeout: float,
    temperature: float | None = None,
) -> Reply:
    """Send the conversation to the provider; its answer, or a ProviderError with a kind."""
    secret = provider.api_key.get_secret_value() if provider.api_key else ""
    where = f"llm {model} at {provider.endpoint}"
    if provider.api == "anthropic":
        url, body = provider.url(), _anthropic_body(model, system, messages, tools, provider)
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if secret:
            headers["x-api-key"] = secret
    else:
        url, body = provider.url(), _openai_body(model, system, messages, tools)
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    if temperature is not None:
        body["temperature"] = temperature
    response = post(url, body, headers, timeout=timeout, where=where, secret=secret)
    try:
        data = response.json()
        if provider.api == "anthropic":
            return _anthropic_reply(data, model)
        return _openai_reply(data, model)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        excerpt = response.text[:EXCERPT_CHARS]
        message = scrub(f"{where} answered something that is not a reply: {excerpt!r}", secret)
        raise ProviderError(message, kind="provider") from None


def post(
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    timeout: float,
    where: str,
    secret: str,
) -> httpx.Response:
    """One request, never retried here; a failure as the error kind the step's policy reads."""
    if timeout <= 0:
        raise StepTimeout(f"{where}: no time left before the step timeout")
    try:
        response = _client(httpx.URL(url).host).post(
            url, json=body, headers=headers, timeout=timeout
        )
    except httpx.TimeoutException:
        raise StepTimeout(f"{where} timed out after {timeout:.3g}s") from None
    except httpx.RequestError as e:
        message = scrub(f"{where} failed: {type(e).__name__}: {e}", secret)
        raise HttpTransportError(message) from None
    if response.status_code >= 400:
        raise provider_error(where, response, secret)
    return response


@functools.lru_cache(maxsize=32)
def _client(host: str) -> httpx.Client:
    """One client per provider host, kept for the process: a conversation's turns reuse its
    connection (a TLS handshake per request costs a real endpoint ~50-100 ms). Never retries."""
    return httpx.Client(transport=httpx.HTTPTransport(retries=0))


def provider_error(where: str, response: httpx.Response, secret: str) -> ProviderError:
    status = response.status_code
    kind, retryable = STATUS_KINDS.get(status, ("provider", status >= 500))
    detail = response.text[:EXCERPT_CHARS]
    with contextlib.suppress(ValueError, KeyError, TypeError):
        detail = response.json()["error"]["message"][:EXCERPT_CHARS]
    message = scrub(f"{where} answered HTTP {status} ({kind}): {detail}", secret)
    return ProviderError(message, kind=kind, retryable=retryable)


def scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


# -- OpenAI-compatible chat completions ---------------------------------------------------------
def _openai_body(
    model: str, system: str, messages: list[dict[str, Any]], tools: list[Tool]
) -> dict[str, Any]:
    said: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        if message["role"] == "assistant":
            out: dict[str, Any] = {"role": "assistant", "content": message.get("content") or None}
            if message.get("tool_calls"):
                out["tool_calls"] = [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                    for call in message["tool_calls"]
                ]
            said.append(out)
        elif message["role"] == "tool":
            said.append(
                {
                    "role": "tool",
                    "tool_call_id": message["tool_call_id"],
                    "content": message["content"],
                }
            )
        else:
            said.append({"role": message["role"], "content": message["content"]})
    body: dict[str, Any] = {"model": model, "messages": said}
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.schema},
            }
            for t in tools
        ]
    return body


def _openai_reply(data: dict[str, Any], model: str) -> Reply:
    choice = data["choices"][0]
    said = choice["message"]
    calls = [
        {
            "id": call.get("id") or f"call-{i + 1}",
            "name": call["function"]["name"],
            "arguments": _as_text(call["function"].get("arguments")),
        }
        for i, call in enumerate(said.get("tool_calls") or [])
    ]
    message: dict[str, Any] = {"role": "assistant", "content": said.get("content") or ""}
    if calls:
        message["tool_calls"] = calls
    usage = data.get("usage") or {}
    refusal = said.get("refusal")
    finish = choice.get("finish_reason")
    stop = (
        "refusal"
        if refusal or finish == "content_filter"
        else "tool_calls"
        if calls
        else "max_tokens"
        if finish == "length"
        else "answer"
    )
    return Reply(
        message=message,
        model=data.get("model") or model,
        stop=stop,
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        refusal=refusal or (said.get("content") if stop == "refusal" else None),
    )


# -- Anthropic Messages -------------------------------------------------------------------------
def _anthropic_body(
    model: str,
    system: str,
    messages: list[dict[str, Any]],
    tools: list[Tool],
    provider: LLMProvider,
) -> dict[str, Any]:
    said: list[dict[str, Any]] = []
    for message in messages:
        role = "assistant" if message["role"] == "assistant" else "user"
        if message["role"] == "assistant":
            blocks: list[dict[str, Any]] = []
            if message.get("content"):
                blocks.append({"type": "text", "text": message["content"]})
            for call in message.get("tool_calls") or []:
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call["id"],
                        "name": call["name"],
                        "input": _as_object(call["arguments"]),
                    }
                )
        elif message["role"] == "tool":
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": message["tool_call_id"],
                    "content": message["content"],
                    "is_error": bool(message.get("is_error")),
                }
            ]
        else:
            blocks = [{"type": "text", "text": message["content"]}]
        if said and said[-1]["role"] == role:  # the API wants the roles to alternate
            said[-1]["content"].extend(blocks)
        else:
            said.append({"role": role, "content": blocks})
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": provider.max_output_tokens,
        "messages": said,
    }
    if system:
        body["system"] = system
    if tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.schema} for t in tools
        ]
    return body


def _anthropic_reply(data: dict[str, Any], model: str) -> Reply:
    text = "".join(b.get("text", "") for b in data["content"] if b.get("type") == "text")
    calls = [
        {"id": b["id"], "name": b["name"], "arguments": json.dumps(b.get("input") or {})}
        for b in data["content"]
        if b.get("type") == "tool_use"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
    reason = data.get("stop_reason")
    stop = (
        "refusal"
        if reason == "refusal"
        else "tool_calls"
        if calls
        else "max_tokens"
        if reason == "max_tokens"
        else "answer"
    )
    usage = data.get("usage") or {}
    return Reply(
        message=message,
        model=data.get("model") or model,
        stop=stop,
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        refusal=text if stop == "refusal" else None,
    )


def _as_text(arguments: Any) -> str:
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments if arguments is not None else {})


def _as_object(arguments: str) -> dict[str, Any]:
    """Arguments for an API that takes an object: a malformed call is sent back as its text."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return {"_unparsed": arguments}
    return parsed if isinstance(parsed, dict) else {"_value": parsed}
