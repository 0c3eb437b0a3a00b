"""The work every system does, as plain functions, plus AutoAgent ``python``-agent tools.

The step bodies are deliberately tiny (fib(10) is ~10 µs of CPU, a nap is 50 ms of waiting) so
the figures measure the orchestrator, not the work. Every system calls these same functions; the
``@tool`` wrappers exist because AutoAgent's ``python`` agent only calls registered tools.
"""

from __future__ import annotations

import time
from pathlib import Path

from autoagent.agents import tool

FIB_N = 10
FIB_VALUE = 55  # fib(10)


def fib(n: int) -> int:
    """Naive recursive Fibonacci: a little real CPU work per step."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def link(previous: int) -> int:
    """One chain link: its output feeds the next link, so the chain is strictly sequential."""
    return previous + fib(FIB_N)


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def join(results: list) -> int:
    """The fan-out's join: how many branches answered."""
    return len(results)


def finish(count: int, marker: str) -> int:
    """The last step of the resume mission: fails until ``marker`` exists (a crash stand-in)."""
    if not Path(marker).exists():
        raise RuntimeError(f"marker {marker} is absent: failing on purpose")
    return count


@tool
def chain_link(previous: int) -> int:
    return link(previous)


@tool
def join_tool(results: list) -> int:
    return join(results)


@tool
def finish_tool(count: int, marker: str) -> int:
    return finish(count, marker)
