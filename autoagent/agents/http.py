"""The ``http`` agent: one HTTP request with httpx.

No retries here (the step's retry policy is the one layer that retries): a failure maps to an
error kind instead: ``http_status``, ``http_transport`` or ``timeout``.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from autoagent.agents.base import AgentContext, AgentInput, BaseAgent
from autoagent.errors import AgentInputError, HttpStatusError, HttpTransportError, StepTimeout

DEFAULT_TIMEOUT_SECONDS = 30.0
"""Used when the step has no timeout of its own."""

_EXCERPT_CHARS = 200


class HttpInput(AgentInput):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: str = Field(description="Absolute http(s) URL.")
    method: str = Field("GET", description="HTTP method, case-insensitive.")
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict, description="Query string parameters.")
    json_: Any = Field(None, alias="json", description="JSON request body.")
    body: str | None = Field(None, description="Raw request body; exclusive with json.")
    expect: list[int] | None = Field(
        None, description="Accepted status codes; default: any 2xx or 3xx."
    )

    @model_validator(mode="after")
    def _one_body(self) -> HttpInput:
        if self.body is not None and "json_" in self.model_fields_set:
            raise ValueError("give either json or body, not both")
        return self


class HttpOutput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    status_code: int
    headers: dict[str, str]
    json_: Any = Field(None, alias="json", description="Parsed body when it is JSON, else None.")
    text: str


class HttpAgent(BaseAgent):
    """Sends one request; output ``{status_code, headers, json, text}``."""

    name = "http"
    input_model = HttpInput
    output_model = HttpOutput
    idempotent = False
    error_kinds = frozenset({"http_status", "http_transport", "timeout", "input"})

    def run(self, ctx: AgentContext, input: HttpInput) -> HttpOutput:
        method = input.method.upper()
        timeout = ctx.remaining()
        if timeout is None:
            timeout = DEFAULT_TIMEOUT_SECONDS
        elif timeout <= 0:
            raise StepTimeout(f"{method} {input.url}: no time left before the step timeout")
        body: dict[str, Any] = {}
        if "json_" in input.model_fields_set:
            body["json"] = input.json_
        elif input.body is not None:
            body["content"] = input.body
        transport = httpx.HTTPTransport(retries=0)
        try:
            with httpx.Client(timeout=timeout, follow_redirects=True, transport=transport) as c:
                response = c.request(
                    method, input.url, headers=input.headers, params=input.params, **body
                )
        except httpx.TimeoutException as e:
            raise StepTimeout(f"{method} {input.url} timed out after {timeout:.3g}s: {e}") from e
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
            raise AgentInputError(f"{method} {input.url}: invalid URL: {e}") from e
        except httpx.RequestError as e:
            raise HttpTransportError(f"{method} {input.url} failed: {_describe(e)}") from e
        return _check_status(method, input, response)


def _check_status(method: str, input: HttpInput, response: httpx.Response) -> HttpOutput:
    status = response.status_code
    ok = status in input.expect if input.expect is not None else 200 <= status < 400
    text = response.text
    if not ok:
        excerpt = text[:_EXCERPT_CHARS]
        raise HttpStatusError(
            f"{method} {input.url} returned HTTP {status}: {excerpt!r}",
            status_code=status,
            body=excerpt,
        )
    return HttpOutput(
        status_code=status, headers=dict(response.headers), json=_json_or_none(response), text=text
    )


def _json_or_none(response: httpx.Response) -> Any:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _describe(error: httpx.RequestError) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
