"""AutoAgent ``python``-agent tools for the benchmark missions.

The ``python`` agent only calls functions registered with ``@tool`` and names them as
``"module:attr"``, so the missions say ``bench_tools:chain_link`` (``bench/`` is on sys.path in
the benchmark's worker processes). The work itself lives in ``work.py``, shared by all systems.
"""

from __future__ import annotations

import work

from autoagent.agents import tool


@tool
def chain_link(previous: int) -> int:
    return work.link(previous)


@tool
def join_tool(results: list) -> int:
    return work.join(results)


@tool
def finish_tool(count: int, marker: str) -> int:
    return work.finish(count, marker)


@tool
def now() -> float:
    """The wall clock when the step started: the end of an approval-latency sample."""
    import time

    return time.time()


@tool
def add_one(n: int) -> int:
    """Add one (the tool of bench/agent_turns.py's conversation)."""
    return n + 1


@tool
def nap_tool(seconds: float) -> float:
    return work.nap(seconds)


@tool
def nap_or_fail(item: int, seconds: float, failing: int, marker: str) -> float:
    """An item of the wide resume: item ``failing`` fails until ``marker`` exists."""
    work.nap(seconds)
    if item == failing:
        work.finish(1, marker)
    return seconds
