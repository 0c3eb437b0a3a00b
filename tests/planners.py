"""Planner tools for tests: plans written by Python, with every planning counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoagent.agents import tool


@tool
def three_steps(folder: str, middle: str = "") -> dict[str, Any]:
    """Three counted shell steps; ``middle`` runs inside the second (a sleep, say)."""
    with (Path(folder) / "planned").open("a") as out:
        out.write("x\n")

    def counted(name: str, then: str = "") -> dict[str, Any]:
        command = f"echo x >> {Path(folder) / name}" + (f"; {then}" if then else "")
        return {"command": command}

    return {
        "steps": [
            {"id": "one", "agent": "shell", "input": counted("one")},
            {"id": "two", "agent": "shell", "needs": ["one"], "input": counted("two", middle)},
            {"id": "three", "agent": "shell", "needs": ["two"], "input": counted("three")},
        ]
    }


@tool
def broken() -> list[dict[str, Any]]:
    return [
        {"id": "fine", "agent": "echo", "input": {"value": 1}},
        {"id": "lost", "agent": "echo", "needs": ["nowhere"], "input": {"value": 2}},
        {"id": "odd", "agent": "no-such-agent", "input": {}},
    ]
