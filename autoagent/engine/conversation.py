"""An LLM agent's step: the model is asked, the tools it calls run, their results go back, and
again, until it answers without a tool call or a budget ends it (design.md §5).

Every model request and every tool call is a durable unit (engine/turns.py) under the step's path,
``turn-N/model`` and ``turn-N/call-M``; the conversation is rebuilt from their persisted results,
so a resumed step asks the model nothing it already answered and runs no finished tool again. A
tool marked ``approval: true`` waits for a person before each call (engine/ask.py: the same form,
CLI and durability as an approval step); a rejection is the tool's answer. A delegate is another
agent's conversation under the call's path; a handoff gives the conversation to another agent.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from autoagent.agents import AgentContext
from autoagent.agents.chat import Tool, complete
from autoagent.agents.provider import LLMProvider, load_provider
from autoagent.engine import narrate
from autoagent.engine.agent_budget import Spent, exhausted, time_left
from autoagent.engine.conversation_record import (
    budget_end,
    call_said,
    output,
    publish_transcript,
    turn_said,
    turn_summary,
)
from autoagent.engine.final_answer import ask_again, checked
from autoagent.engine.results import Results
from autoagent.engine.tool_approval import approve_call
from autoagent.engine.toolbox import Toolbox
from autoagent.engine.turns import durably, model_unit, tool_unit
from autoagent.errors import BadToolCall, BudgetReached, StepError, StepTimeout
from autoagent.server import telemetry
from autoagent.spec.agents import AgentDefinition

MAX_PARALLEL_CALLS = 8
MAX_CALLS_PER_TURN = 32
"""Calls of one turn past this are answered with an error (and count as bad calls)."""
MAX_DELEGATION_DEPTH = 4
"""Agents asking agents (asking agents...): a deeper delegate call is answered with an error."""
MAX_ANSWER_CHARS = 100_000
"""A tool's answer is cut past this: the model's context and the records stay bounded."""


@dataclass(frozen=True)
class Conversation:
    """What an agent's step is asked: the mission's agents, which one starts, and how to wait."""

    agents: dict[str, AgentDefinition]
    agent: str
    auto_approve: bool = False
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    """``function`` tools given as live callables (the Python API), by ``module:attr``."""
    suspends: bool = False
    """A deployed run: a tool call's approval ends the process until answered."""
    resuming: bool = True
    """The mission may have run before (a resume, a retry, back from a wait): finished units
    are looked for. A first run's first attempt has none to find."""
    run_mission: Callable[[str, dict[str, Any], dict[str, Any]], Any] | None = None
    """Runs a ``mission`` tool's spec (path, dumped spec, params) as a sub-mission at the call's
    path; its outputs by step id. Given by the caller, which knows how groups run."""


def converse(
    ctx: AgentContext, job: Conversation, prompt: str, *, check_tools: bool = True
) -> dict[str, Any]:
    """Run the conversation of ``job.agent`` on ``prompt`` at ``ctx.step_path``; its output:
    ``answer`` (the text, or the parsed JSON with an output_schema), ``content``, ``agent`` (who
    answered), ``turns`` (per turn: agent, model, tokens, cost, tools, seconds), ``usage`` and
    ``stopped`` (``answer``, or ``budget:<limit>`` when a budget ended it and says return)."""
    entry = job.agents[job.agent]
    basis = _digest(
        {"prompt": prompt, "agents": {k: v.model_dump() for k, v in job.agents.items()}}
    )
    results = Results(ctx.run_id)
    look = job.resuming or ctx.attempt > 1
    providers: dict[str, LLMProvider] = {}  # loaded once per conversation, not once per turn
    told: dict[str, list[Tool]] = {}  # what each agent's model is told of its tools: once
    if check_tools:  # a tool that cannot be described (a function that does not import) is the
        for name, agent in job.agents.items():  # mission's mistake: fail before asking a model
            told[name] = Toolbox.of(agent, job.functions).described(job.agents)
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    spent = Spent()
    current = job.agent
    try:
        while True:
            agent = job.agents[current]
            provider = providers.get(agent.provider) or load_provider(agent.provider)
            providers[agent.provider] = provider
            limit = exhausted(entry, spent, len(spent.turns) + 1)
            if limit is not None:
                return budget_end(ctx, entry, job.agent, limit, messages, spent, current)
            n = len(spent.turns) + 1
            here = f"{ctx.step_path}/turn-{n}"
            toolbox = Toolbox.of(agent, job.functions)
            if current not in told:
                told[current] = toolbox.described(job.agents)
            ask = partial(
                _ask_model, ctx, entry, agent, current, provider, told[current], messages, spent
            )
            try:
                turn, read_back = durably(
                    model_unit,
                    results,
                    f"{here}/model",
                    {"step": basis, "agent": current},
                    ask,
                    look=look,
                    said=turn_said,
                )
            except BudgetReached as reached:
                return budget_end(ctx, entry, job.agent, reached.limit, messages, spent, current)
            messages.append(turn["message"])
            calls = turn["message"].get("tool_calls") or []
            spent.add({**turn_summary(turn), "turn": n, "tools": [c["name"] for c in calls]})
            if not read_back:  # a resumed conversation said its finished turns already
                narrate.turn(ctx.run_id, here, spent.turns[-1])
            if turn["stop"] == "refusal":
                raise StepError(
                    f"agent {current!r} refused at {here}: {turn.get('refusal') or 'no reason'}",
                    kind="refusal",
                    retryable=False,
                )
            if calls:
                if exhausted(entry, spent, n + 1) is not None:
                    continue  # the budget ends it before its tools run
                answers = _run_calls(ctx, job, toolbox, here, calls, results, basis, spent, look)
                messages.extend(answers)
                handoff = next((a["handoff"] for a in answers if a.get("handoff")), None)
                current = handoff or current
                continue
            content = turn["message"].get("content") or ""
            answer, problem = checked(agent, content)
            if problem is None:
                return output(ctx, job.agent, content, answer, current, spent, messages, "answer")
            if spent.output_retries >= agent.output_retries:
                raise StepError(
                    f"agent {current!r} at {here}: its answer does not fit the output schema:"
                    f" {problem}",
                    kind="output",
                    retryable=False,
                )
            spent.output_retries += 1
            messages.append({"role": "user", "content": ask_again(problem, agent)})
    except StepError:
        publish_transcript(ctx, job.agent, messages, spent.turns, "failed")
        raise


def _ask_model(
    ctx: AgentContext,
    entry: AgentDefinition,
    agent: AgentDefinition,
    name: str,
    provider: LLMProvider,
    tools: list[Tool],
    messages: list[dict[str, Any]],
    spent: Spent,
) -> dict[str, Any]:
    started = datetime.now(UTC)
    clock = time.monotonic()
    timeout = provider.timeout_seconds
    step_left, budget_left = ctx.remaining(), time_left(entry, spent, started)
    for left in (step_left, budget_left):
        if left is not None:
            timeout = min(timeout, left)
    try:
        reply = complete(
            provider,
            model=agent.model or provider.model,
            system=agent.system,
            messages=list(messages),
            tools=tools,
            timeout=timeout,
            temperature=agent.temperature,
        )
    except StepTimeout:
        if budget_left is not None and timeout == budget_left:
            raise BudgetReached("timeout") from None
        raise
    cost = provider.cost(reply.input_tokens, reply.output_tokens)
    telemetry.model_turn(
        provider.label(), reply.model, reply.input_tokens, reply.output_tokens, cost
    )
    return {
        "message": reply.message,
        "agent": name,
        "model": reply.model,
        "stop": reply.stop,
        "refusal": reply.refusal,
        "input_tokens": reply.input_tokens,
        "output_tokens": reply.output_tokens,
        "cost": cost,
        "started_at": started.isoformat(),
        "seconds": round(time.monotonic() - clock, 4),
    }


def _run_calls(
    ctx: AgentContext,
    job: Conversation,
    toolbox: Toolbox,
    here: str,
    calls: list[dict[str, Any]],
    results: Results,
    basis: str,
    spent: Spent,
    look: bool,
) -> list[dict[str, Any]]:
    """Run the turn's calls (in parallel, as the model asked them together); their answers in
    the order of the calls. Bad calls are answered with an error and counted."""
    checked: list[tuple[int, dict[str, Any], dict[str, Any] | BadToolCall]] = []
    for i, call in enumerate(calls, start=1):
        try:
            if i > MAX_CALLS_PER_TURN:
                raise BadToolCall(f"at most {MAX_CALLS_PER_TURN} tool calls in one turn")
            checked.append((i, call, toolbox.check(call["name"], call["arguments"])))
        except BadToolCall as bad:
            checked.append((i, call, bad))
    bad = [c for c in checked if isinstance(c[2], BadToolCall)]
    spent.bad_calls += len(bad)
    agent = job.agents[job.agent]
    if bad and spent.bad_calls > agent.tool_errors:
        raise StepError(
            f"agent {job.agent!r} at {here}: more than {agent.tool_errors} bad tool calls;"
            f" the last: {bad[-1][2]}",
            kind="tool_call",
            retryable=False,
        )

    def answer(entry: tuple[int, dict[str, Any], dict[str, Any] | BadToolCall]) -> dict[str, Any]:
        i, call, arguments = entry
        said = {"role": "tool", "tool_call_id": call["id"], "name": call["name"]}
        if isinstance(arguments, BadToolCall):
            return {**said, "content": f"error: {arguments}", "is_error": True}
        target = toolbox.handoffs.get(call["name"])
        if target is not None:
            return {**said, "content": f"Transferred to {target}.", "handoff": target}
        path = f"{here}/call-{i}"
        note = ""
        if toolbox.tools[call["name"]].approval:  # before the tool's unit: it may suspend
            verdict = approve_call(
                ctx,
                path,
                call["name"],
                arguments,
                agent=job.agent,
                auto_approve=job.auto_approve,
                suspends=job.suspends,
            )
            if not verdict.approved:
                told = f"A person rejected this call: {verdict.comment or 'no reason given'}"
                return {**said, "content": told, "is_error": True}
            if verdict.arguments != json.dumps(arguments, sort_keys=True):
                try:
                    arguments = toolbox.check(call["name"], verdict.arguments)
                except BadToolCall as bad:
                    told = f"error: the arguments a person gave: {bad}"
                    return {**said, "content": told, "is_error": True}
                note = f"(a person changed the arguments to {json.dumps(arguments)}) "
        run = _call(ctx, job, toolbox, path, call["name"], arguments, note)
        given = {"step": basis, "arguments": arguments}
        done, _ = durably(tool_unit, results, path, given, run, look=look, said=call_said)
        return {**said, **done}

    if len(checked) == 1:
        return [answer(checked[0])]
    with ThreadPoolExecutor(max_workers=min(len(checked), MAX_PARALLEL_CALLS)) as pool:
        return list(pool.map(_in_context(answer), checked))


def _call(
    ctx: AgentContext,
    job: Conversation,
    toolbox: Toolbox,
    path: str,
    name: str,
    given: dict[str, Any],
    note: str,
) -> Callable[[], dict[str, Any]]:
    """The work of one checked (and approved) call; what the model is told, a failure of the
    tool included (it may try otherwise). ``note`` says a person changed the arguments."""

    def work() -> dict[str, Any]:
        clock = time.monotonic()
        tool = toolbox.tools[name]
        inner = replace(ctx, step_path=path, started=time.monotonic(), timeout=ctx.remaining())
        try:
            if tool.delegate is not None:
                if path.count("/turn-") > MAX_DELEGATION_DEPTH:
                    told = f"error: agents may delegate {MAX_DELEGATION_DEPTH} deep, not deeper"
                    return _said(told, True, clock)
                delegated = replace(job, agent=tool.delegate)
                out = converse(inner, delegated, given["task"], check_tools=False)
                return _said(note + _text(out["answer"]), False, clock)
            if tool.mission is not None:
                assert job.run_mission is not None, "a mission tool needs a mission runner"
                out = job.run_mission(path, tool.child or {}, {**given, **tool.input})
            else:
                out = toolbox.run(name, given, inner)
        except StepError as exc:
            return _said(f"{note}error ({exc.kind}): {exc}", True, clock)
        return _said(note + _text(out), False, clock)

    return work


def _said(content: str, is_error: bool, clock: float) -> dict[str, Any]:
    if len(content) > MAX_ANSWER_CHARS:
        content = content[:MAX_ANSWER_CHARS] + f" … (cut: {len(content) - MAX_ANSWER_CHARS} more)"
    return {
        "content": content,
        "is_error": is_error,
        "seconds": round(time.monotonic() - clock, 4),
    }


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _in_context(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` run in a copy of this thread's context (Prefect's run context lives there)."""
    context = contextvars.copy_context()
    return lambda value: context.copy().run(fn, value)
