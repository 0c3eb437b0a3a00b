"""What an LLM agent's conversation has spent (turns, tokens, cost, time) and which limit of
its budget that reaches (spec/agents.py ``Budget``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from autoagent.spec.agents import AgentDefinition


@dataclass
class Spent:
    """Turns so far, their tokens and cost, when the first began, bad calls and re-asks."""

    turns: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    started: str | None = None
    bad_calls: int = 0
    output_retries: int = 0

    def add(self, turn: dict[str, Any]) -> None:
        self.turns.append(turn)
        self.input_tokens += turn["input_tokens"]
        self.output_tokens += turn["output_tokens"]
        self.cost += turn["cost"]
        self.started = self.started or turn["started_at"]


def exhausted(budget_of: AgentDefinition, spent: Spent, next_turn: int) -> str | None:
    """The limit of the budget that is reached before the next turn (None: go on)."""
    budget = budget_of.budget
    if next_turn > budget.max_turns:
        return "max_turns"
    if budget.max_tokens is not None and spent.input_tokens + spent.output_tokens >= (
        budget.max_tokens
    ):
        return "max_tokens"
    if budget.max_cost is not None and spent.cost >= budget.max_cost:
        return "max_cost"
    left = time_left(budget_of, spent, datetime.now(UTC))
    if left is not None and left <= 0:
        return "timeout"
    return None


def time_left(agent: AgentDefinition, spent: Spent, now: datetime) -> float | None:
    """Seconds left of the budget's wall-clock timeout, counted from the first turn."""
    if agent.budget.timeout is None:
        return None
    started = datetime.fromisoformat(spent.started) if spent.started else now
    return agent.budget.timeout - (now - started).total_seconds()
