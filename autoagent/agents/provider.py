"""The LLM provider block: where the ``llm`` agent and LLM agents send requests, with which key,
in which wire format, and what a token costs.

Saved on the Prefect server (UI: Blocks → AutoAgent LLM Provider, after
``prefect block register -m autoagent.agents.provider``), or from Python::

    LLMProvider(endpoint="https://api.openai.com/v1", model="gpt-4o-mini",
                api_key="sk-...").save("default")

The key is a ``SecretStr``: the server stores it as a secret field, the UI masks it, and the agent
reads it only to build the request's header. Specs name a provider by its block name.
"""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from autoagent.errors import AgentInputError


class LLMProvider(Block):
    """A model endpoint (OpenAI-compatible or Anthropic), its default model, key and prices."""

    _block_type_name = "AutoAgent LLM Provider"
    _block_type_slug = "autoagent-llm-provider"
    _description = "A model endpoint for AutoAgent's llm, planner and LLM agents."

    endpoint: str = Field(
        description="Base URL of the API (e.g. .../v1); /chat/completions or /messages is appended."
    )
    api: Literal["openai", "anthropic"] = Field(
        default="openai",
        description="Wire format: OpenAI-compatible chat completions, or Anthropic Messages.",
    )
    model: str = Field(description="The model used when a step names none.")
    api_key: SecretStr | None = Field(
        default=None, description="Sent as a Bearer token; never logged or stored in results."
    )
    timeout_seconds: float = Field(
        default=60.0, gt=0, description="Per request, when the step has no timeout of its own."
    )
    input_price: float = Field(
        default=0.0, ge=0, description="Price of a million input tokens (for max_cost budgets)."
    )
    output_price: float = Field(
        default=0.0, ge=0, description="Price of a million output tokens (for max_cost budgets)."
    )
    max_output_tokens: int = Field(
        default=4096, gt=0, description="Per reply (the Anthropic API requires a bound)."
    )

    def url(self) -> str:
        route = "/messages" if self.api == "anthropic" else "/chat/completions"
        return self.endpoint.rstrip("/") + route

    def label(self) -> str:
        """The name it was saved under (metrics count tokens by it), else its wire format."""
        return getattr(self, "_block_document_name", None) or self.api

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """What the tokens cost at this provider's prices."""
        return (input_tokens * self.input_price + output_tokens * self.output_price) / 1e6


def load_provider(name: str) -> LLMProvider:
    """The saved provider ``name``; a clear error when there is none."""
    try:
        return LLMProvider.load(name, _sync=True)  # sync even where a loop runs (a notebook)
    except ValueError as exc:
        raise AgentInputError(
            f"no LLM provider block {name!r} on this server: save one"
            " (autoagent/agents/provider.py says how)"
        ) from exc
