"""What an LLM agent's step leaves: its output, a markdown artifact on the step's task run with a
table of its turns (agent, model, tokens, cost, tools, seconds) and the transcript, and the lines
``autoagent status`` shows of each unit.

The transcript is bounded (each message cut to ``MESSAGE_CHARS``, at most ``SHOWN_MESSAGES``,
the first and the last ones), so a 500-turn conversation does not grow the server's records; the
whole conversation stays in result storage, turn by turn.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect.client.schemas.actions import ArtifactCreate
from prefect.context import TaskRunContext

from autoagent.agents import AgentContext
from autoagent.engine import narrate
from autoagent.engine.agent_budget import Spent
from autoagent.errors import StepError
from autoagent.server.client import client
from autoagent.spec.agents import AgentDefinition

MESSAGE_CHARS = 1500
SHOWN_MESSAGES = 60
logger = logging.getLogger("autoagent.conversation")


def turns_table(turns: list[dict[str, Any]]) -> str:
    """The turns as a markdown table, with a total line."""
    lines = [
        "| turn | agent | model | tokens in | tokens out | cost | tools | seconds |",
        "|---:|---|---|---:|---:|---:|---|---:|",
    ]
    for t in turns:
        tools = ", ".join(t["tools"]) or "-"
        lines.append(
            f"| {t['turn']} | {t['agent']} | {t['model']} | {t['input_tokens']} |"
            f" {t['output_tokens']} | {t['cost']:.4g} | {tools} | {t['seconds']:.2f} |"
        )
    total_in = sum(t["input_tokens"] for t in turns)
    total_out = sum(t["output_tokens"] for t in turns)
    cost = sum(t["cost"] for t in turns)
    seconds = sum(t["seconds"] for t in turns)
    lines.append(f"| **all** | | | {total_in} | {total_out} | {cost:.4g} | | {seconds:.2f} |")
    return "\n".join(lines)


def transcript(messages: list[dict[str, Any]]) -> str:
    """The conversation as markdown, long messages cut and a long middle left out."""
    shown = list(enumerate(messages))
    if len(shown) > SHOWN_MESSAGES:
        head = SHOWN_MESSAGES // 4
        tail = SHOWN_MESSAGES - head
        left_out = len(shown) - SHOWN_MESSAGES
        shown = [*shown[:head], (-left_out, None), *shown[-tail:]]
    out = []
    for i, message in shown:
        if message is None:
            out.append(f"*… {-i} messages left out …*")
            continue
        out.append(_message(message))
    return "\n\n".join(out)


def _message(message: dict[str, Any]) -> str:
    role = message["role"]
    if role == "tool":
        head = f"**tool `{message['name']}`**" + (" (error)" if message.get("is_error") else "")
        return f"{head}:\n\n```\n{_cut(message['content'])}\n```"
    text = _cut(message.get("content") or "")
    calls = message.get("tool_calls") or []
    said = f"**{role}**: {text}" if text else f"**{role}**:"
    for call in calls:
        said += f"\n\n→ calls `{call['name']}` with `{_cut(call['arguments'], 300)}`"
    return said


def _cut(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = text.replace("```", "'''")
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit} more chars)"


def publish_transcript(
    ctx: AgentContext,
    agent: str,
    messages: list[dict[str, Any]],
    turns: list[dict[str, Any]],
    stopped: str,
) -> None:
    """Post the step's artifact (on its task run); a failure to post only costs the artifact."""
    context = TaskRunContext.get()
    task_run = context.task_run if context is not None else None
    markdown = (
        f"# `{ctx.step_path}`: agent {agent}, {stopped}\n\n{turns_table(turns)}\n\n"
        f"## Transcript\n\n{transcript(messages)}\n"
    )
    try:
        with client() as prefect:
            prefect.create_artifact(
                ArtifactCreate(
                    type="markdown",
                    data=markdown,
                    description=f"Conversation of {agent} at {ctx.step_path}",
                    flow_run_id=task_run.flow_run_id if task_run else None,
                    task_run_id=task_run.id if task_run else None,
                )
            )
    except Exception:
        logger.warning("could not post the conversation of %s", ctx.step_path, exc_info=True)


def budget_end(
    ctx: AgentContext,
    entry: AgentDefinition,
    name: str,
    limit: str,
    messages: list[dict[str, Any]],
    spent: Spent,
    current: str,
) -> dict[str, Any]:
    budget = entry.budget
    value = getattr(budget, limit)
    said = f"agent {name!r} of step {ctx.step_path!r} reached its budget: {limit} = {value}"
    if budget.on_exhausted == "fail":
        raise StepError(said, kind="budget", retryable=False)
    narrate.budget(ctx.run_id, ctx.step_path, said)
    last = next(
        (m.get("content") or "" for m in reversed(messages) if m["role"] == "assistant"), ""
    )
    return output(ctx, name, last, last, current, spent, messages, f"budget:{limit}")


def output(
    ctx: AgentContext,
    name: str,
    content: str,
    answer: Any,
    current: str,
    spent: Spent,
    messages: list[dict[str, Any]],
    stopped: str,
) -> dict[str, Any]:
    publish_transcript(ctx, name, messages, spent.turns, stopped)
    return {
        "answer": answer,
        "content": content,
        "agent": current,
        "stopped": stopped,
        "turns": spent.turns,
        "messages": messages,
        "usage": {
            "input_tokens": spent.input_tokens,
            "output_tokens": spent.output_tokens,
            "cost": round(spent.cost, 6),
        },
    }


def turn_said(turn: dict[str, Any]) -> str:
    """A model unit's line in ``autoagent status``: who, which model, tokens, cost, calls."""
    calls = [c["name"] for c in turn["message"].get("tool_calls") or []]
    then = f"calls {', '.join(calls)}" if calls else turn["stop"]
    return (
        f"{turn['agent']} on {turn['model']}: {turn['input_tokens']}+{turn['output_tokens']}"
        f" tokens, cost {turn['cost']:.6f}; {then}"
    )


def call_said(done: dict[str, Any]) -> str:
    """A tool call's line in ``autoagent status``: the start of what the model was told."""
    text = " ".join(str(done.get("content", "")).split())
    return ("error: " if done.get("is_error") else "") + (
        text if len(text) <= 80 else text[:79] + "…"
    )


def turn_summary(turn: dict[str, Any]) -> dict[str, Any]:
    keys = ("agent", "model", "input_tokens", "output_tokens", "cost", "seconds", "started_at")
    return {k: turn[k] for k in keys}
