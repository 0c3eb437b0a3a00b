"""Rules about one step's own fields that reach outside the spec: known agents and the inputs
they take, known error kinds, declared concurrency limits, asset keys, the for_each limit.

Each rule gives (location inside the step, field, message); ``validate.py`` names the mission,
the step and the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from autoagent.agents import agent_names, error_kinds, get_agent, validate_input
from autoagent.errors import ERROR_KINDS
from autoagent.settings import get_settings
from autoagent.spec.agents import AgentDefinition, AgentStepInput
from autoagent.spec.hints import hint
from autoagent.spec.lineage import check_key
from autoagent.spec.loader import Loc
from autoagent.spec.models import StepFields
from autoagent.spec.shapes import field_name

Found = list[tuple[Loc, str | None, str]]


def problems(f: StepFields, agents: Mapping[str, AgentDefinition | None] | None = None) -> Found:
    """Everything wrong with one step's fields that the models alone cannot tell; ``agents`` are
    the mission's own LLM agents, which a step names ahead of registered ones."""
    out: Found = []
    if f.agent is not None and f.agent in (agents or {}):
        out += _agent_step(f.agent, f.input)
        if f.runs_on is not None:
            message = "an LLM agent's step runs in the mission's process (its turns are units)"
            out.append((("runs_on",), "runs_on", message))
    elif f.agent is not None:
        out += agent(f.agent, f.input, ())
    if f.compensate is not None:
        out += agent(f.compensate.agent, f.compensate.input, ("compensate",))
    if f.retry_on:
        out += kinds(f.retry_on)
    if f.asset is not None:
        out += asset(f.asset, f.agent is not None)
    widest = get_settings().max_for_each
    if isinstance(f.for_each, list) and len(f.for_each) > widest:
        message = f"{len(f.for_each)} items: at most {widest} (limit AUTOAGENT_MAX_FOR_EACH)"
        out.append((("for_each",), "for_each", message))
    if f.for_each_batch is not None and (f.for_each is None or f.agent is None):
        message = "only a for_each step with an agent runs its items in batches"
        out.append((("for_each_batch",), "for_each_batch", message))
    if f.runs_on is not None and f.agent is None:
        message = "only a step with an agent runs on a work pool (put it on the agent steps)"
        out.append((("runs_on",), "runs_on", message))
    return out


def agent(name: str, agent_input: Any, at: Loc) -> Found:
    """A known agent (``at`` is ``()`` or ``("compensate",)``) and an input it accepts."""
    try:
        found = get_agent(name)  # a built-in needs no scan of the installed entry points
    except KeyError:
        message = f"unknown agent {name!r}{hint(name, agent_names())}"
        return [((*at, "agent"), field_name((*at, "agent")), message)]
    known = list(found.input_model.model_fields)
    out: Found = []
    for text in validate_input(name, agent_input or {}):
        where, _, message = text.partition(": ")  # "input.command: Field required"
        if not message:
            where, message = "input", text
        parts = tuple(int(p) if p.isascii() and p.isdigit() else p for p in where.split("."))
        if message == "Field required":
            message = f"required field is missing (agent {name!r} needs it)"
        elif message == "Extra inputs are not permitted":
            message = f"unknown field for agent {name!r}, which takes: {', '.join(known)}"
            message += hint(str(parts[-1]), known)
            if name == "llm" and parts[-1] == "tools":
                message += (
                    "; the llm agent makes one request: declare an agent with tools under the"
                    " mission's `agents:` and run it by name"
                )
        out.append(((*at, *parts), field_name((*at, *parts)), message))
    return out


def _agent_step(name: str, agent_input: Any) -> Found:
    try:
        AgentStepInput.model_validate(agent_input or {})
    except ValidationError as exc:
        out: Found = []
        for err in exc.errors():
            parts = ("input", *err["loc"])
            message = err["msg"]
            if err["type"] == "missing":
                message = f"required field is missing (agent {name!r} needs a prompt)"
            elif err["type"] == "extra_forbidden":
                message = f"unknown field for LLM agent {name!r}, which takes: prompt"
            elif err["type"] == "string_type" and _templated(agent_input, err["loc"]):
                continue
            out.append((parts, field_name(parts), message))
        return out
    return []


def _templated(agent_input: Any, loc: tuple[Any, ...]) -> bool:
    value = agent_input
    for part in loc:
        value = value.get(part) if isinstance(value, dict) else None
    return isinstance(value, str) and "{{" in value


def kinds(listed: list[str]) -> Found:
    """Error kinds ``retry_on`` names: the built-in ones and those installed agents raise."""
    known = set(ERROR_KINDS) | error_kinds(loaded_only=True)
    if not known.issuperset(listed):
        known |= error_kinds()
    return [
        (("retry_on", i), "retry_on", f"unknown error kind {kind!r}{hint(kind, known)}")
        for i, kind in enumerate(listed)
        if kind not in known
    ]


def limit(name: str, declared: set[str]) -> str | None:
    """A step's concurrency limit is declared by the mission or in settings."""
    known = declared | set(get_settings().concurrency_limits)
    if name in known:
        return None
    return (
        f"unknown concurrency limit {name!r}{hint(name, known)}: declare it under the"
        " mission's `concurrency` (name: slots) or in AUTOAGENT_CONCURRENCY_LIMITS"
    )


def asset(key: str, has_agent: bool) -> Found:
    problem = check_key(key)
    if problem is None and not has_agent:
        problem = "only a step with an agent materializes an asset"
    return [(("asset",), "asset", problem)] if problem is not None else []
