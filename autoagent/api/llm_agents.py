"""LLM agents in code: ``Agent(...)`` and ``agent.run(prompt)`` inside a ``@mission``.

The same agent a spec declares under ``agents:`` (spec/agents.py), built from Python values: a
tool is a ``@tool`` function, a registered agent's name, another ``Agent`` (it is delegated to),
or ``Tool(target, approval=True, ...)`` for options. ``run`` is a durable step: its turns and tool
calls are units under the step's path, exactly as a spec step's, so the two give the same status
tree and resume the same way.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pydantic
from prefect import Flow
from prefect.context import FlowRunContext
from prefect.exceptions import Pause
from prefect.settings import PREFECT_API_URL
from prefect.utilities.annotations import quote

from autoagent.agents import AgentContext, tool
from autoagent.api.scope import MissionScope, prefixed, require_scope
from autoagent.engine.conversation import Conversation
from autoagent.engine.journal import journaled
from autoagent.engine.mission import run_steps
from autoagent.engine.outcome import state_value
from autoagent.engine.policy import RetryPolicy
from autoagent.engine.scope import Scope
from autoagent.engine.step import StepCall, step_task
from autoagent.engine.suspend import suspends
from autoagent.engine.toolbox import function_name
from autoagent.errors import AutoAgentError, StepError
from autoagent.server.client import read_run
from autoagent.spec import MissionSpec, load, validate_data
from autoagent.spec.agents import AGENT_NAME, AgentDefinition, definition_problems


@dataclass(frozen=True)
class Tool:
    """A tool with options: ``target`` is a ``@tool`` function, a registered agent's name, an
    Agent (delegated to), a spec (a ``Path`` or a dict) or a ``@mission`` run as a sub-mission
    (the model gives its params)."""

    target: Callable[..., Any] | str | Agent | Path | dict[str, Any] | Flow[..., Any]
    approval: bool = False
    name: str | None = None
    description: str = ""
    input: dict[str, Any] | None = None
    """Fixed input fields of a registered agent (set on every call, hidden from the model)."""


class Agent:
    """An LLM agent: its provider block, model, system prompt, tools, handoffs and budget."""

    def __init__(
        self,
        name: str,
        *,
        provider: str = "default",
        model: str | None = None,
        system: str = "",
        description: str = "",
        tools: Iterable[Callable[..., Any] | str | Agent | Path | Flow[..., Any] | Tool] = (),
        handoffs: Iterable[Agent] = (),
        max_turns: int = 20,
        max_tokens: int | None = None,
        max_cost: float | None = None,
        timeout: float | None = None,
        on_exhausted: str = "fail",
        output_schema: dict[str, Any] | type[pydantic.BaseModel] | None = None,
        output_retries: int = 1,
        tool_errors: int = 3,
        temperature: float | None = None,
    ):
        if not AGENT_NAME.match(name):
            raise AutoAgentError(
                f"agent {name!r}: a name is lowercase letters, digits, '-' and '_'"
            )
        self.name = name
        self.tools = [t if isinstance(t, Tool) else Tool(t) for t in tools]
        self.handoffs = list(handoffs)
        self.functions: dict[str, Callable[..., Any]] = {}
        schema = output_schema
        if isinstance(schema, type) and issubclass(schema, pydantic.BaseModel):
            schema = schema.model_json_schema()
        try:
            self.definition = AgentDefinition.model_validate(
                {
                    "provider": provider,
                    "model": model,
                    "system": system,
                    "description": description,
                    "tools": [self._tool(t) for t in self.tools],
                    "handoffs": [a.name for a in self.handoffs],
                    "budget": {
                        "max_turns": max_turns,
                        "max_tokens": max_tokens,
                        "max_cost": max_cost,
                        "timeout": timeout,
                        "on_exhausted": on_exhausted,
                    },
                    "output_schema": schema,
                    "output_retries": output_retries,
                    "tool_errors": tool_errors,
                    "temperature": temperature,
                }
            )
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'agent'}: {e['msg']}" for e in exc.errors()
            )
            raise AutoAgentError(f"agent {name!r}: {problems}") from None

    def _tool(self, tool: Tool) -> dict[str, Any]:
        target = tool.target
        told: dict[str, Any] = {"approval": tool.approval, "description": tool.description}
        if tool.name:
            told["name"] = tool.name
        if isinstance(target, Agent):
            return {**told, "delegate": target.name}
        if isinstance(target, str):
            return {**told, "agent": target, "input": tool.input or {}}
        if isinstance(target, Path | dict):
            spec = load(target) if isinstance(target, Path) else validate_data(target)
            told.setdefault("name", spec.name.replace("-", "_")[:64])
            child = spec.model_dump(mode="json")
            return {**told, "mission": spec.name, "child": child, "input": tool.input or {}}
        if isinstance(target, Flow):
            told.setdefault("name", re.sub(r"[^A-Za-z0-9_-]", "_", target.name)[:64])
            told["description"] = tool.description or inspect.getdoc(target.fn) or target.name
            target = _mission_tool(target)
        name = function_name(target)
        self.functions[name] = target
        return {**told, "function": name}

    def team(self) -> tuple[dict[str, AgentDefinition], dict[str, Callable[..., Any]]]:
        """This agent and every agent it reaches (delegates, handoffs), with their functions."""
        agents: dict[str, Agent] = {}
        todo = [self]
        while todo:
            agent = todo.pop()
            known = agents.get(agent.name)
            if known is agent:
                continue
            if known is not None:
                raise AutoAgentError(f"two different agents are named {agent.name!r}")
            agents[agent.name] = agent
            todo += [t.target for t in agent.tools if isinstance(t.target, Agent)]
            todo += agent.handoffs
        definitions = {name: a.definition for name, a in agents.items()}
        problems = definition_problems(definitions)
        if problems:
            said = "; ".join(f"{'.'.join(map(str, where))}: {m}" for where, m in problems)
            raise AutoAgentError(f"agent {self.name!r}: {said}")
        functions = {k: v for a in agents.values() for k, v in a.functions.items()}
        return definitions, functions

    def run(
        self,
        prompt: str,
        *,
        step: str | None = None,
        retries: int = 0,
        retry_on: list[str] | None = None,
        retry_backoff: dict[str, Any] | None = None,
        timeout: float | None = None,
        auto_approve: bool = False,
    ) -> dict[str, Any]:
        """Run the conversation as the durable step ``step`` (default: the agent's name) of the
        mission; its output as a spec step's (``answer``, ``turns``, ``usage``, ...)."""
        scope = require_scope(f"agent {self.name!r}")
        path = scope.path(step or self.name)
        agents, functions = self.team()
        policy = RetryPolicy.given(
            retries=retries, retry_backoff=retry_backoff, retry_on=retry_on, timeout=timeout
        )
        runner = journaled(step_task(policy, str(PREFECT_API_URL.value()), agent=self.name))
        call = StepCall(
            mission=scope.mission,
            root_run_id=scope.root_run_id,
            path=path,
            agent=self.name,
            input={"prompt": prompt},
            timeout=policy.timeout,
            conversation=Conversation(
                agents=agents,
                agent=self.name,
                auto_approve=auto_approve,
                functions=functions,
                suspends=_suspends(),
                run_mission=partial(_run_mission_tool, scope),
            ),
        )
        state = runner(call=quote(call), return_state=True)
        if state.is_paused():  # a tool call's approval suspended the deployed run
            raise Pause(state=read_run(scope.root_run_id).state)
        return state.result()


def _mission_tool(flow: Flow[..., Any]) -> Callable[..., Any]:
    """A ``@mission`` as a tool: called with the model's params, as a sub-mission at the call's
    path (its steps persist there, so a call run again finds them); its parameters' schema is the
    flow function's signature."""

    def run(ctx: AgentContext, **params: Any) -> Any:
        with prefixed(ctx.step_path + "/"):
            return flow.with_options(flow_run_name=ctx.step_path)(**params)

    signature = inspect.signature(flow.fn, eval_str=True)
    ctx = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=AgentContext)
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), ctx]
    )
    run.__name__ = run.__qualname__ = re.sub(r"\W", "_", flow.name)
    run.__module__ = flow.fn.__module__
    run.__doc__ = inspect.getdoc(flow.fn)
    return tool(run)


def _suspends() -> bool:
    context = FlowRunContext.get()
    return context is not None and context.flow_run is not None and suspends(context.flow_run)


def _run_mission_tool(
    scope: MissionScope, path: str, spec: dict[str, Any], params: dict[str, Any]
) -> Any:
    """A mission tool's call: the spec's steps as a group subflow at the call's path."""
    child = MissionSpec.model_validate(spec)
    inner = Scope(
        mission=child.name,
        root_run_id=scope.root_run_id,
        params={**child.params, **params},
        defaults=child.defaults,
        prefix=path + "/",
        resuming=True,  # a call run again after a crash reads its finished steps
        run_name=scope.run_name,
        tags=scope.tags,
        agents=dict(child.agents),
    )
    state = run_steps(child.steps, inner)
    if not state.is_completed():
        exc = state_value(state, raise_on_failure=False)
        raise StepError(str(exc), kind=getattr(exc, "kind", "error"), retryable=False)
    return state_value(state)
