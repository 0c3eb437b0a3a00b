"""How runs look in a terminal: the status tree, the run list and live progress lines."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from autoagent.status import MissionStatus, StepStatus

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
    if step.error:
        text.append(f"\n    {step.error}", style="red")
    return text


def status_tree(status: MissionStatus) -> Tree:
    icon, color = ICONS.get(status.state.lower(), ("•", "white"))
    head = Text()
    head.append(f"{icon} mission {status.mission}", style=f"bold {color}")
    head.append(f"  {status.state}", style=color)
    if status.duration is not None:
        head.append(f"  {status.duration:.2f}s", style="dim")
    head.append(f"\n  run {status.run_id} ({status.name})", style="dim")
    tree = Tree(head)

    def add(parent: Tree, nodes: list[StepStatus]) -> None:
        for node in nodes:
            add(parent.add(step_line(node)), node.children)

    add(tree, status.steps)
    return tree


def runs_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Recent missions", show_lines=False)
    table.add_column("run id", no_wrap=True, min_width=36)
    for column in ("mission", "state", "started", "duration"):
        table.add_column(column, overflow="fold")
    for row in rows:
        _, color = ICONS.get(row["state"].lower(), ("", "white"))
        table.add_row(
            row["id"],
            row["mission"],
            Text(row["state"], style=color),
            row["started"],
            row["duration"],
        )
    return table


def progress_printer(console: Console):
    """A scheduler listener that prints one line per finished step."""

    def show(outcome: Any) -> None:
        icon, color = ICONS.get(outcome.state, ("•", "white"))
        text = Text(f"  {icon} {outcome.path}", style=color)
        if outcome.cached:
            text.append("  cached", style="dim")
        if outcome.duration is not None:
            text.append(f"  {outcome.duration:.2f}s", style="dim")
        if outcome.error:
            text.append(f"  {outcome.error}", style="red")
        console.print(text)

    return show
