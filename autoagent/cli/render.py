"""How runs look in a terminal: the status tree, the run list and live progress lines."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from autoagent.server.answering import answer_command, waits_for
from autoagent.server.status_nodes import shown_items

if TYPE_CHECKING:  # `autoagent list` renders a table: it needs no spec models (~0.2 s)
    from autoagent.engine.outcome import Outcome
    from autoagent.server.status import MissionStatus, StepStatus

WAITED_SHOWN = 0.5
"""Seconds of waiting worth a word: a run that never waited still spends a little between
states."""

ICONS = {
    "completed": ("✓", "green"),
    "skipped": ("↷", "dim"),
    "failed": ("✗", "red"),
    "crashed": ("✗", "red"),
    "running": ("▶", "cyan"),
    "retrying": ("↻", "yellow"),
    "waiting": ("⏸", "magenta"),
    "pending": ("·", "dim"),
    "not run": ("·", "dim"),
    "cancelled": ("■", "yellow"),
    "cancelling": ("■", "yellow"),
}


def step_line(step: StepStatus) -> Text:
    icon, color = ICONS.get(step.state, ("?", "white"))
    text = Text()
    text.append(f"{icon} ", style=color)
    text.append(step.id, style="bold")
    state = step.state + (" (cached)" if step.cached else "")
    text.append(f"  {state}", style=color)
    if step.attempts:
        text.append(f"  {step.attempts} attempt{'s' if step.attempts != 1 else ''}", style="dim")
    if step.duration is not None:
        text.append(f"  {step.duration:.2f}s", style="dim")
    if step.note:
        text.append(f"  {step.note}", style="cyan")
    if step.error:
        text.append(f"\n    {step.error}", style="red")
    if step.reason:
        text.append(f"\n    {step.reason}", style="dim")
    if step.waits_for is not None:
        text.append(f"\n    {waits_for(step.waits_for)}", style="magenta")
    return text


def answer_lines(status: MissionStatus) -> list[str]:
    """One line per waiting step: the exact command that answers it (printed unwrapped)."""
    return [
        f"{node.path}: {answer_command(status.run_id, node.path, node.waits_for)}"
        for node in status.walk()
        if node.waits_for is not None and node.waits_for.get("kind") != "timer"
    ]


def status_tree(status: MissionStatus) -> Tree:
    icon, color = ICONS.get(status.state.lower(), ("•", "white"))
    head = Text()
    head.append(f"{icon} mission {status.mission}", style=f"bold {color}")
    head.append(f"  {status.state}", style=color)
    if status.duration is not None:
        head.append(f"  {status.duration:.2f}s", style="dim")
    if status.waited is not None and status.waited >= WAITED_SHOWN:
        head.append(f" (+{status.waited:.2f}s waiting)", style="dim")
    head.append(f"\n  run {status.run_id} ({status.name})", style="dim")
    if status.version:
        head.append(f"\n  version: {status.version}", style="dim")
    if status.message and status.state.lower() not in ("completed", "running"):
        head.append(f"\n  {' '.join(status.message.split())}", style=color)
    tree = Tree(head)

    def add(parent: Tree, nodes: list[StepStatus]) -> None:
        for node in nodes:
            branch = parent.add(step_line(node))
            children, hidden = shown_items(node.children)
            add(branch, children)
            if hidden:
                branch.add(Text(f"… {hidden:,} more items completed", style="dim"))

    add(tree, status.steps)
    return tree


def summary(markers: list[dict[str, Any]]) -> str:
    """Who a run waits for, in a few words: ``approval review; event payment-42``."""
    parts = []
    for marker in markers:
        kind = marker.get("kind", "?")
        what = marker.get("key") if kind == "event" else marker["path"]
        if kind == "timer":
            what = f"{marker['path']} until {marker.get('deadline', '?')}"
        parts.append(f"{kind} {what}")
    return "; ".join(parts)


def runs_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Missions, newest first", show_lines=False)
    table.add_column("run id", no_wrap=True, min_width=36)
    for column in ("mission", "state", "started", "duration", "tags", "waiting for"):
        table.add_column(column, overflow="fold")
    for row in rows:
        _, color = ICONS.get(row["state"].lower(), ("", "white"))
        table.add_row(
            row["id"],
            row["mission"],
            Text(row["state"], style=color),
            row["started"],
            row["duration"],
            Text(row.get("tags", ""), style="cyan"),
            Text(row.get("waiting for", ""), style="magenta"),
        )
    return table


def progress_printer(console: Console, run_id: str = "RUN") -> Callable[[Outcome], None]:
    """A journal listener that prints one line per finished step, and how to answer a step
    that starts waiting."""

    def show(outcome: Outcome) -> None:
        if outcome.batch is not None and outcome.state == "completed" and not outcome.error:
            return  # an item of a batch that went well: its batch's line says so
        if outcome.state == "waiting":
            text = Text(f"  ⏸ {outcome.path}  waiting: ", style="magenta")
            text.append(answer_command(run_id, outcome.path, outcome.output), style="bold")
            console.print(text, soft_wrap=True)  # a command to copy: never wrapped
            return
        icon, color = ICONS.get(outcome.state, ("•", "white"))
        text = Text(f"  {icon} {outcome.path}", style=color)
        if outcome.parts is not None:
            text.append(f"  {len(outcome.parts)} items", style="dim")
        if outcome.cached:
            text.append("  cached", style="dim")
        if outcome.duration is not None:
            text.append(f"  {outcome.duration:.2f}s", style="dim")
        if outcome.error:
            text.append(f"  {outcome.error}", style="red")
        console.print(text)

    return show
