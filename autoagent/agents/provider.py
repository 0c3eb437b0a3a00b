"""The LLM provider block: where the ``llm`` agent sends chat completions, and with which key.

Saved on the Prefect server (UI: Blocks → AutoAgent LLM Provider, after
``prefect block register -m autoagent.agents.provider``), or from Python::

    LLMProvider(endpoint="https://api.openai.com/v1", model="gpt-4o-mini",
                api_key="sk-...").save("default")

The key is a ``SecretStr``: the server stores it as a secret field, the UI masks it, and the agent
reads it only to build the request's header. Specs name a provider by its block name.
"""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from autoagent.errors import AgentInputError


class LLMProvider(Block):
    """An OpenAI-compatible chat completions endpoint, its default model and its secret key."""

    _block_type_name = "AutoAgent LLM Provider"
    _block_type_slug = "autoagent-llm-provider"
    _description = "An OpenAI-compatible endpoint for AutoAgent's llm and planner agents."

    endpoint: str = Field(
        description="Base URL of the API; /chat/completions is appended (e.g. .../v1)."
    )
    model: str = Field(description="The model used when a step names none.")
    api_key: SecretStr | None = Field(
        default=None, description="Sent as a Bearer token; never logged or stored in results."
    )
    timeout_seconds: float = Field(
        default=60.0, gt=0, description="Per request, when the step has no timeout of its own."
    )

    def url(self) -> str:
        return self.endpoint.rstrip("/") + "/chat/completions"


def load_provider(name: str) -> LLMProvider:
    """The saved provider ``name``; a clear error when there is none."""
    try:
        return LLMProvider.load(name)
    except ValueError as exc:
        raise AgentInputError(
            f"no LLM provider block {name!r} on this server: save one"
            " (autoagent/agents/provider.py says how)"
        ) from exc
