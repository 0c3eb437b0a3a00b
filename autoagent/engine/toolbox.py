"""The tools of an LLM agent: what the model is told (name, description, JSON schema), how a call's
arguments are checked before anything runs, and how a checked call runs.

A registered agent's schema is its input model's (fixed ``input`` fields hidden and always set); a
``@tool`` function's comes from its signature; a delegate takes a ``task``; a handoff takes an
optional ``reason``. A call that names no tool, or whose arguments are not JSON or do not fit the
schema, is answered with an error the model can act on (engine/conversation.py bounds how many).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic
from jsonschema import Draft202012Validator

from autoagent.agents import AgentContext, get_agent, run_agent
from autoagent.agents.chat import Tool
from autoagent.agents.python import TOOL_MARKER, resolve_tool
from autoagent.errors import AgentInputError, BadToolCall, StepError
from autoagent.spec.agents import AgentDefinition, ToolDefinition

HANDOFF_PREFIX = "transfer_to_"


@dataclass(frozen=True)
class Toolbox:
    """One agent's tools, by the name the model calls them."""

    tools: dict[str, ToolDefinition]
    handoffs: dict[str, str]
    """Tool name → the agent the conversation goes to."""
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    """``function`` tools given as live callables (the Python API), by their ``module:attr``."""

    @classmethod
    def of(
        cls, agent: AgentDefinition, functions: dict[str, Callable[..., Any]] | None = None
    ) -> Toolbox:
        return cls(
            tools={t.tool_name: t for t in agent.tools},
            handoffs={HANDOFF_PREFIX + name: name for name in agent.handoffs},
            functions=functions or {},
        )

    def described(self, agents: dict[str, AgentDefinition]) -> list[Tool]:
        """What the model is told about each tool."""
        told = [
            Tool(name, self._description(tool, agents), self._schema(tool))
            for name, tool in self.tools.items()
        ]
        for name, target in self.handoffs.items():
            about = agents[target].description or f"the agent {target!r}"
            told.append(
                Tool(
                    name,
                    f"Hand the whole conversation over to {about}; it answers from here on.",
                    {"type": "object", "properties": {"reason": {"type": "string"}}},
                )
            )
        return told

    def check(self, name: str, arguments: str) -> dict[str, Any]:
        """The call's arguments, parsed and checked against the tool's schema (else BadToolCall)."""
        if name not in self.tools and name not in self.handoffs:
            known = ", ".join([*self.tools, *self.handoffs]) or "none"
            raise BadToolCall(f"there is no tool {name!r}; the tools are: {known}")
        try:
            given = json.loads(arguments or "{}")
        except ValueError as exc:
            raise BadToolCall(
                f"the arguments of {name!r} are not JSON ({exc}): {arguments[:200]!r}"
            ) from None
        if not isinstance(given, dict):
            raise BadToolCall(f"the arguments of {name!r} must be a JSON object, not {given!r}")
        if name in self.handoffs:
            return given
        tool = self.tools[name]
        if tool.delegate is not None:
            if not isinstance(given.get("task"), str) or not given["task"].strip():
                raise BadToolCall(
                    f"{name!r} needs a `task`: what to do, with what it needs to know"
                )
            return {"task": given["task"]}
        if tool.mission is not None:
            errors = list(Draft202012Validator(self._schema(tool)).iter_errors(given))
            if errors:
                said = "; ".join(sorted(e.message for e in errors))
                raise BadToolCall(f"the arguments of {name!r} are not valid: {said}")
            return given
        try:
            if tool.agent is not None:
                model = get_agent(tool.agent).input_model
                model.model_validate({**given, **tool.input})
            else:
                _signature_model(self._function(tool)).model_validate(given)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            raise BadToolCall(f"the arguments of {name!r} are not valid: {problems}") from None
        return given

    def run(self, name: str, arguments: dict[str, Any], ctx: AgentContext) -> Any:
        """Run a checked call of an agent or function tool; its output as JSON data."""
        tool = self.tools[name]
        if tool.agent is not None:
            return run_agent(get_agent(tool.agent), ctx, {**arguments, **tool.input})
        return run_agent(_Function(self._function(tool)), ctx, arguments)

    def _function(self, tool: ToolDefinition) -> Callable[..., Any]:
        assert tool.function is not None
        found = self.functions.get(tool.function)
        return found if found is not None else resolve_tool(tool.function)

    def _schema(self, tool: ToolDefinition) -> dict[str, Any]:
        if tool.delegate is not None:
            return {
                "type": "object",
                "properties": {"task": {"type": "string", "description": "What to do."}},
                "required": ["task"],
            }
        if tool.mission is not None:
            params = (tool.child or {}).get("params") or {}
            schema = {
                "type": "object",
                "properties": {k: _json_type(v) for k, v in params.items()},
                "additionalProperties": False,
            }
        elif tool.agent is not None:
            schema = get_agent(tool.agent).input_model.model_json_schema()
        else:
            schema = _signature_model(self._function(tool)).model_json_schema()
        schema.pop("title", None)
        for fixed in tool.input:  # set by the spec: not the model's to choose
            schema.get("properties", {}).pop(fixed, None)
            if fixed in schema.get("required", []):
                schema["required"] = [r for r in schema["required"] if r != fixed]
        return schema

    def _description(self, tool: ToolDefinition, agents: dict[str, AgentDefinition]) -> str:
        if tool.description:
            return tool.description
        if tool.delegate is not None:
            about = agents[tool.delegate].description or f"the agent {tool.delegate!r}"
            return f"Ask {about} to do a task; its answer comes back."
        if tool.mission is not None:
            child = tool.child or {}
            about = child.get("description") or f"the mission {child.get('name', tool.mission)!r}"
            return f"Run {about} with these params; its steps' outputs come back."
        if tool.agent is not None:
            agent = get_agent(tool.agent)
            return (type(agent).__doc__ or f"The {tool.agent} agent.").strip().splitlines()[0]
        return (inspect.getdoc(self._function(tool)) or tool.tool_name).strip()


def _json_type(default: Any) -> dict[str, Any]:
    """A mission param's JSON schema, from its default value's type (None: any value)."""
    kinds = [(bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")]
    kinds += [(list, "array"), (dict, "object")]
    for kind, name in kinds:
        if isinstance(default, kind):
            return {"type": name, "default": default}
    return {}


def function_name(fn: Callable[..., Any]) -> str:
    """A ``@tool`` function's ``module:attr``, as a spec would name it."""
    if getattr(fn, TOOL_MARKER, False) is not True:
        raise AgentInputError(
            f"{getattr(fn, '__qualname__', fn)!r} is not a tool: decorate it with @autoagent.tool"
        )
    return f"{fn.__module__}:{fn.__qualname__.replace('.<locals>.', '.')}"


def _signature_model(fn: Callable[..., Any]) -> type[pydantic.BaseModel]:
    """A pydantic model of the function's parameters (``ctx`` left out), for its JSON schema."""
    fields: dict[str, Any] = {}
    try:
        signature = inspect.signature(fn, eval_str=True)
    except (NameError, TypeError):  # an annotation that names what is not importable here
        signature = inspect.signature(fn)
    for name, param in signature.parameters.items():
        if name == "ctx" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = Any if param.annotation is param.empty else param.annotation
        default = ... if param.default is param.empty else param.default
        fields[name] = (annotation, default)
    config = pydantic.ConfigDict(extra="forbid")
    return pydantic.create_model(fn.__name__, __config__=config, **fields)


class _Function:
    """A ``@tool`` function as an agent, so it runs the one way agents run (``run_agent``): its
    arguments validated by its signature, ``ctx`` given when it asks for it."""

    idempotent = False
    error_kinds = frozenset({"error"})
    output_model = None

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn
        self.name = fn.__name__
        self.input_model = _signature_model(fn)

    def run(self, ctx: AgentContext, input: pydantic.BaseModel) -> Any:
        kwargs = {name: getattr(input, name) for name in type(input).model_fields}
        if "ctx" in inspect.signature(self.fn).parameters:
            kwargs["ctx"] = ctx
        try:
            return self.fn(**kwargs)
        except StepError:
            raise
        except Exception as exc:
            raise StepError(f"{type(exc).__name__}: {exc}", kind="error") from exc
