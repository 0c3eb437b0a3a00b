"""The ``planner`` agent: writes more steps at run time.

Its output is a spec fragment, ``{"steps": [...]}``, written by an LLM (``goal`` + ``provider``)
or by a Python tool (``function``, a ``@tool`` as for the ``python`` agent). The mission then
validates the plan with the rules of any spec, naming the planner step in every error, and runs
it as a sub-mission under the planner's path (autoagent.engine.planning). The plan is the step's
persisted result: a resumed mission never plans again, and plan steps completed before a crash
are cache hits like any other.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from pydantic import Field, model_validator

from autoagent.agents.base import AgentContext, AgentInput, BaseAgent
from autoagent.agents.llm import LLMAgent, LLMInput
from autoagent.agents.python import resolve_tool
from autoagent.agents.registry import agent_names, get_agent
from autoagent.errors import AgentInputError, PlanError, Problem, SpecError, StepError
from autoagent.spec.validate import validate_data

SYSTEM_PROMPT = """You plan the next steps of an AutoAgent mission.
Answer with one JSON object: {{"steps": [...]}}. Each step is an object with a unique "id" (a slug:
letters, digits, '_' or '-', starting with a letter), an "agent" (one of: {agents}) and an
"input" object for that agent; it may have "needs" (ids of earlier steps in this plan), "retries"
and "timeout". A step may use the output of a step it needs with
"{{{{ steps.<id>.output }}}}" and the mission's parameters with "{{{{ params.<name> }}}}".
Use at most {max_steps} steps. Agents and their inputs:
{catalogue}"""


class PlannerInput(AgentInput):
    goal: str | None = Field(None, description="What the plan must achieve (LLM planning).")
    provider: str = Field("default", description="The LLM provider block (with `goal`).")
    model: str | None = Field(None, description="Overrides the provider's model.")
    function: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        description='A @tool that returns the steps, as "package.module:attr".',
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Arguments of `function`.")
    agents: list[str] | None = Field(
        None, description="Agents the plan may use (default: all but planner)."
    )
    max_steps: int = Field(20, gt=0, le=200)

    @model_validator(mode="after")
    def _one_source(self) -> PlannerInput:
        if (self.goal is None) == (self.function is None):
            raise ValueError("give exactly one of goal (an LLM plans) or function (a tool plans)")
        return self


class PlannerAgent(BaseAgent):
    """Returns ``{"steps": [...], "source": "llm" | "<function>", "usage": ...}``."""

    name = "planner"
    input_model = PlannerInput
    output_model = None
    idempotent = False
    error_kinds = frozenset(
        {"plan", "input", "error", "rate_limit", "bad_request", "auth", "provider", "timeout"}
    )

    def run(self, ctx: AgentContext, input: PlannerInput) -> dict[str, Any]:
        if input.function is not None:
            steps, source, usage = _from_tool(ctx, input), input.function, None
        else:
            steps, usage = _from_llm(ctx, input)
            source = "llm"
        if not isinstance(steps, list) or not steps:
            raise StepError("the plan has no steps (a non-empty list)", kind="plan")
        if len(steps) > input.max_steps:
            raise StepError(
                f"the plan has {len(steps)} steps, more than max_steps {input.max_steps}",
                kind="plan",
                retryable=False,
            )
        allowed = set(input.agents or [])  # unknown agents are the spec validation's to report
        for raw in steps if allowed else []:
            agent = raw.get("agent") if isinstance(raw, dict) else None
            if agent is not None and agent not in allowed:
                raise StepError(
                    f"the plan's step {raw.get('id')!r} uses the agent {agent!r}, not one of"
                    f" {sorted(allowed)}",
                    kind="plan",
                    retryable=False,
                )
        validated_plan(ctx.mission, ctx.step_path, ctx.params, {"steps": steps})
        output: dict[str, Any] = {"steps": steps, "source": source}
        if usage is not None:
            output["usage"] = usage
        return json.loads(json.dumps(output))


def _agents() -> list[str]:
    return [a for a in agent_names() if a != "planner"]


def _from_tool(ctx: AgentContext, input: PlannerInput) -> Any:
    fn = resolve_tool(input.function or "")
    kwargs = dict(input.kwargs)
    if "ctx" in inspect.signature(fn).parameters:
        kwargs["ctx"] = ctx
    try:
        planned = fn(**kwargs)
    except StepError:
        raise
    except TypeError as e:
        raise AgentInputError(f"planner {input.function!r}: {e}") from None
    except Exception as e:
        raise StepError(f"planner {input.function!r} failed: {type(e).__name__}: {e}") from e
    return planned.get("steps") if isinstance(planned, dict) else planned


def _from_llm(ctx: AgentContext, input: PlannerInput) -> tuple[Any, dict[str, Any]]:
    names = input.agents or _agents()
    catalogue = "\n".join(
        f"- {name}: {sorted(get_agent(name).input_model.model_fields)}" for name in names
    )
    system = SYSTEM_PROMPT.format(
        agents=", ".join(names), max_steps=input.max_steps, catalogue=catalogue
    )
    asked = LLMInput(
        provider=input.provider,
        model=input.model,
        system=system,
        prompt=input.goal,
        response_format="json",
    )
    answer = LLMAgent().run(ctx, asked)
    plan = answer.json_
    if not isinstance(plan, dict) or "steps" not in plan:
        raise StepError(
            f"the LLM's plan is not an object with steps: {answer.content[:300]!r}", kind="plan"
        )
    return plan["steps"], answer.usage.model_dump()


def validated_plan(mission: str, step_path: str, params: dict[str, Any], plan: Any) -> list[Any]:
    """The plan's steps, checked by the rules of a spec: a SpecError names the planner step, and
    each of its lines the plan's step and field."""
    steps = plan.get("steps") if isinstance(plan, dict) else None
    fragment = {"name": _slug(f"{mission}-plan"), "params": params, "steps": steps}
    try:
        return validate_data(fragment).steps
    except SpecError as exc:
        lines = "; ".join(_where(p) + p.message for p in exc.problems)
        message = f"the planner wrote an invalid plan: {lines}"
        raise PlanError(str(Problem(mission, step_path, "plan", message))) from None


def _where(problem: Any) -> str:
    parts = [f"step {problem.step!r}" if problem.step else "", problem.field or ""]
    parts[1] = f"field {parts[1]!r}" if parts[1] else ""
    named = ", ".join(p for p in parts if p)
    return f"{named}: " if named else ""


def _slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in text.lower())
    return cleaned.strip("-_")[:63] or "plan"
