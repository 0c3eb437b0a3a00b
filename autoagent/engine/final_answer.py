"""An LLM agent's final answer checked against its output schema, and what to ask again."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from autoagent.spec.agents import AgentDefinition


def checked(agent: AgentDefinition, content: str) -> tuple[Any, str | None]:
    """The answer, parsed when the agent has an output schema; and what is wrong with it."""
    if agent.output_schema is None:
        return content, None
    try:
        parsed = json.loads(_unfenced(content))
    except ValueError as exc:
        return None, f"it is not JSON ({exc})"
    errors = sorted(Draft202012Validator(agent.output_schema).iter_errors(parsed), key=str)
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "the answer"
        return None, f"{where}: {errors[0].message}"
    return parsed, None


def _unfenced(content: str) -> str:
    """JSON a model wrapped in a markdown code fence, unwrapped."""
    text = content.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    return text


def ask_again(problem: str, agent: AgentDefinition) -> str:
    schema = json.dumps(agent.output_schema)
    return (
        f"Your answer does not fit the required output: {problem}. Answer again with only a"
        f" JSON value that meets this JSON schema: {schema}"
    )
