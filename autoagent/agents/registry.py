"""Agent names → agent instances, and the one way to run an agent: ``run_agent``.

Built-ins load on their first lookup, each from its own module: validating a spec imports only
the agents it names (the ``http`` and ``llm`` agents bring httpx, ~0.2 s). Third-party agents
come from the entry point group ``autoagent.agents`` (each entry point loads an agent class or
instance); they are loaded once, lazily, on the first lookup of a name that is not built in, and
a broken one is logged and skipped so it cannot break the rest.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import threading
from collections.abc import Awaitable, Mapping
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from autoagent.agents.base import Agent, AgentContext
from autoagent.errors import AgentInputError, StepError, UnknownAgentError

ENTRY_POINT_GROUP = "autoagent.agents"

T = TypeVar("T")

logger = logging.getLogger(__name__)

BUILTINS: Mapping[str, str] = {
    "echo": "autoagent.agents.basic:EchoAgent",
    "fail": "autoagent.agents.basic:FailAgent",
    "sleep": "autoagent.agents.basic:SleepAgent",
    "shell": "autoagent.agents.shell:ShellAgent",
    "http": "autoagent.agents.http:HttpAgent",
    "python": "autoagent.agents.python:PythonAgent",
    "llm": "autoagent.agents.llm:LLMAgent",
    "planner": "autoagent.planner:PlannerAgent",
}
"""Built-in agent names → where their class lives (loaded by name, as entry points are: the
planner sits above the spec package it validates plans with)."""

_agents: dict[str, Agent] = {}
_entry_points_loaded = False
_lock = threading.RLock()


def register(agent: T, *, replace: bool = False) -> T:
    """Register an agent class (instantiated with no arguments) or instance under its ``name``.

    Returns its argument, so it also works as a class decorator. Registering another agent under
    a taken name raises ValueError unless ``replace`` is true.
    """
    instance: Any = agent() if isinstance(agent, type) else agent
    name = getattr(instance, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{agent!r} is not an agent: it has no name")
    model = getattr(instance, "input_model", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"agent {name!r} has no pydantic input_model")
    if not callable(getattr(instance, "run", None)):
        raise TypeError(f"agent {name!r} has no run method")
    kind = type(instance)
    with _lock:
        existing = _agents.get(name)
        taken_by = type(existing).__qualname__ if existing is not None else None
        if existing is None and name in BUILTINS:  # a built-in not loaded yet still owns its name
            if BUILTINS[name] != f"{kind.__module__}:{kind.__qualname__}":
                taken_by = BUILTINS[name].partition(":")[2]
        elif existing is not None and type(existing) is kind:
            taken_by = None
        if taken_by is not None and not replace:
            raise ValueError(
                f"agent name {name!r} is taken by {taken_by}; pass replace=True to override it"
            )
        _agents[name] = instance
    return agent


def get_agent(name: str) -> Agent:
    """The agent registered as ``name``; UnknownAgentError (a KeyError) lists the known names."""
    found = _agents.get(name)
    if found is not None:
        return found
    if name in BUILTINS:
        return _load_builtin(name)
    _load_entry_points()
    try:
        return _agents[name]
    except KeyError:
        known = ", ".join(agent_names()) or "none"
        raise UnknownAgentError(f"unknown agent {name!r}; known agents: {known}") from None


def agent_names() -> list[str]:
    """Sorted names of every registered agent, built-in and third-party ones included."""
    _load_entry_points()
    return sorted({*_agents, *BUILTINS})


def error_kinds(*, loaded_only: bool = False) -> set[str]:
    """The error kinds agents declare (``retry_on`` may name them): of every agent, or only of
    those loaded so far, which is cheaper and usually enough."""
    names = sorted(_agents) if loaded_only else agent_names()
    return {kind for name in names for kind in getattr(get_agent(name), "error_kinds", ())}


def _load_builtin(name: str) -> Agent:
    module, _, attribute = BUILTINS[name].partition(":")
    with _lock:
        if name not in _agents:
            register(getattr(importlib.import_module(module), attribute))
        return _agents[name]


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True  # first: an agent module may look agents up while loading
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                register(ep.load())
            except Exception:
                logger.warning(
                    "skipping agent entry point %r (%s): it failed to load",
                    ep.name,
                    ep.value,
                    exc_info=True,
                )


def run_agent(
    agent: Agent | str, ctx: AgentContext, raw_input: Mapping[str, Any] | BaseModel | None
) -> Any:
    """Validate ``raw_input``, run the agent (sync or async) and return its output as JSON data.

    Raises AgentInputError for invalid input (one line naming every bad field), the agent's own
    StepError, or StepError kind "error" wrapping any other exception. An async agent runs with
    ``asyncio.run``; if this thread already runs a loop, it runs in a fresh thread's loop and
    this call blocks until it is done.
    """
    if isinstance(agent, str):
        agent = get_agent(agent)
    model = agent.input_model
    if isinstance(raw_input, model):
        parsed: BaseModel = raw_input
    else:
        try:
            parsed = model.model_validate({} if raw_input is None else raw_input)
        except ValidationError as e:
            problems = "; ".join(_format_error(err) for err in e.errors())
            raise AgentInputError(f"agent {agent.name!r}: invalid input: {problems}") from None
    try:
        result = agent.run(ctx, parsed)
        if inspect.isawaitable(result):
            result = _run_awaitable(result)
    except StepError:
        raise
    except Exception as e:
        raise StepError(f"agent {agent.name!r}: {type(e).__name__}: {e}", kind="error") from e
    return _to_json(agent.name, result)


def validate_input(name: str, raw_input: Any) -> list[str]:
    """Problems with a step's input for agent ``name``, at spec-validation time (empty: fine).

    The input may still hold unrendered templates such as ``"{{ params.n }}"`` where an int is
    expected, so only these are reported: unknown fields, missing required fields, and type
    errors for values that contain no ``"{{"`` (a value whose template renders to the wrong type
    fails later, in ``run_agent``). An unknown agent is reported as one problem.
    """
    try:
        agent = get_agent(name)
    except KeyError as e:
        return [str(e)]
    try:
        agent.input_model.model_validate({} if raw_input is None else raw_input)
    except ValidationError as e:
        return [
            _format_error(err)
            for err in e.errors()
            if err["type"] in ("extra_forbidden", "missing")
            or not _templated(raw_input, err["loc"])
        ]
    return []


def _format_error(err: Any) -> str:
    where = ".".join(["input", *(str(part) for part in err["loc"])])
    return f"{where}: {err['msg']}"


def _templated(raw_input: Any, loc: tuple[int | str, ...]) -> bool:
    """True if the value at ``loc``, or any container on the way to it, holds a template."""
    value = raw_input
    for part in loc:
        if isinstance(value, str):
            break
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            break  # loc names a union member or a model-level check: judge what we reached
    return _has_template(value)


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, Mapping):
        return any(_has_template(k) or _has_template(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_template(v) for v in value)
    return False


def _run_awaitable(awaitable: Awaitable[Any]) -> Any:
    import asyncio  # only for async agents: validating a spec need not load it (~40 ms)

    async def wait() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="autoagent-agent") as pool:
        return pool.submit(asyncio.run, wait()).result()


def _to_json(name: str, result: Any) -> Any:
    """Pydantic models are dumped by alias; other values must survive a JSON round trip."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True)
    try:
        return json.loads(json.dumps(result))
    except (TypeError, ValueError) as e:
        raise StepError(
            f"agent {name!r} returned a value that is not JSON-serialisable: {e}",
            kind="output",
            retryable=False,
        ) from e
