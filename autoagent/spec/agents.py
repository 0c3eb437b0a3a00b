"""LLM agents a mission declares (``agents:``): provider, model, system prompt, tools, budget.

A step runs one with ``agent: <name>`` and ``input: {prompt: ...}``; the model loops over tool
calls until it answers or a budget ends it (engine/conversation.py). A tool is one of: a registered
agent (``agent:``), a Python function marked ``@tool`` (``function: "module:attr"``), or another
of the mission's agents (``delegate:``: it answers a task as a tool would). ``handoffs`` name the
agents this one may hand the whole conversation to.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from jsonschema import Draft202012Validator, SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What both wire formats accept as a tool's name."""
AGENT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,47}$")
MAX_TURNS_LIMIT = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(_Strict):
    """What one conversation may spend; reaching a limit ends the step with kind ``budget``."""

    max_turns: int = Field(20, ge=1, le=MAX_TURNS_LIMIT)
    max_tokens: int | None = Field(None, gt=0)
    max_cost: float | None = Field(None, gt=0)
    timeout: float | None = Field(None, gt=0)
    """Seconds of wall-clock time from the first turn, across resumes."""
    on_exhausted: Literal["fail", "return"] = "fail"
    """``return``: the step completes with what the agent said last (``stopped`` says why)."""


class ToolDefinition(_Strict):
    """One tool the model may call: exactly one of ``agent``, ``function``, ``delegate`` or
    ``mission`` (a spec file run as a sub-mission; the model gives its params)."""

    agent: str | None = None
    function: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    delegate: str | None = None
    mission: str | None = None
    child: dict[str, Any] | None = None
    """A ``mission`` tool's spec, inlined by validation (a dumped spec)."""
    name: str | None = None
    """The name the model sees (default: the agent's, the function's or ``ask_<delegate>``)."""
    description: str = ""
    input: dict[str, Any] = Field(default_factory=dict)
    """Fixed input fields of an ``agent`` tool (params of a ``mission`` tool): set on every
    call, hidden from the model."""
    approval: bool = False
    """Each call waits for a person (approve, reject with a reason, or edit the arguments)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ToolDefinition:
        kinds = ("agent", "function", "delegate", "mission")
        given = [k for k in kinds if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a tool names exactly one of agent, function, delegate or mission"
                + (f" (it names {', '.join(given)})" if given else "")
            )
        if self.input and self.agent is None and self.mission is None:
            raise ValueError("only an agent or a mission tool takes fixed `input`")
        return self

    @field_validator("name")
    @classmethod
    def _tool_name(cls, value: str | None) -> str | None:
        if value is not None and not TOOL_NAME.match(value):
            raise ValueError("must be 1-64 letters, digits, '_' or '-'")
        return value

    @property
    def tool_name(self) -> str:
        if self.name:
            return self.name
        if self.delegate:
            return f"ask_{self.delegate}"
        if self.function:
            return self.function.rpartition(":")[2].rpartition(".")[2]
        if self.mission:
            stem = self.mission.replace("\\", "/").rsplit("/", 1)[-1].split(".")[0]
            return re.sub(r"[^A-Za-z0-9_-]", "_", stem)[:64] or "mission"
        return str(self.agent)


class AgentDefinition(_Strict):
    """An LLM agent of a mission."""

    provider: str = "default"
    """The saved LLM provider block: endpoint, wire format, key and prices."""
    model: str | None = None
    system: str = ""
    description: str = ""
    """What it does: the tool description when another agent delegates to it or hands off."""
    tools: list[ToolDefinition] = Field(default_factory=list)
    handoffs: list[str] = Field(default_factory=list)
    budget: Budget = Budget()
    output_schema: dict[str, Any] | None = None
    """A JSON schema the final answer must meet (parsed JSON); a bad answer is sent back."""
    output_retries: int = Field(1, ge=0, le=10)
    tool_errors: int = Field(3, ge=0, le=100)
    """Bad tool calls (unknown tool, malformed or invalid arguments) answered with an error
    before the step fails with kind ``tool_call``."""
    temperature: float | None = Field(None, ge=0, le=2)

    @model_validator(mode="after")
    def _tool_names_unique(self) -> AgentDefinition:
        names = [t.tool_name for t in self.tools] + [f"transfer_to_{h}" for h in self.handoffs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"tool names must be unique: {', '.join(twice)} named twice")
        return self


class AgentStepInput(_Strict):
    """The input of a step that runs one of the mission's agents."""

    prompt: str = Field(min_length=1)


def definition_problems(
    agents: dict[str, AgentDefinition], registered: set[str] | None = None
) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong across a mission's agents: names, delegates and handoffs that name no agent
    of the mission, and output schemas that are not JSON schemas. (location, message) pairs;
    ``registered`` (agent names of the registry) also checks ``agent`` tools when given."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    known = sorted(agents)
    for name, agent in agents.items():
        if not AGENT_NAME.match(name):
            out.append(((name,), "an agent's name is lowercase letters, digits, '-' and '_'"))
        for i, tool in enumerate(agent.tools):
            target = tool.delegate
            if target is not None and target not in agents:
                out.append(((name, "tools", i, "delegate"), f"no agent {target!r} ({known})"))
            if target == name:
                out.append(((name, "tools", i, "delegate"), "an agent cannot delegate to itself"))
            if tool.agent is not None and registered is not None and tool.agent not in registered:
                out.append(((name, "tools", i, "agent"), f"unknown agent {tool.agent!r}"))
        for i, target in enumerate(agent.handoffs):
            if target not in agents or target == name:
                why = "itself" if target == name else f"no agent {target!r} ({known})"
                out.append(((name, "handoffs", i), f"cannot hand off to {why}"))
        if agent.output_schema is not None:
            try:
                Draft202012Validator.check_schema(agent.output_schema)
            except SchemaError as exc:
                out.append(((name, "output_schema"), f"not a JSON schema: {exc.message}"))
    return out
