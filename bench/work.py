"""The work every system does, as plain functions with no dependencies.

The step bodies are deliberately tiny (fib(10) is tens of µs of CPU, a nap is 50 ms of waiting)
so the figures measure the orchestrator, not the work. Every system calls these same functions.
"""

from __future__ import annotations

import time
from pathlib import Path

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
