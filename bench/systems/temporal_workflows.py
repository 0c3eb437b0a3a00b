"""Temporal workflows and activities for the benchmark (imported by the workflow sandbox).

One activity per step, as a Temporal user writes it: async activities (fib runs inline, the nap
is ``asyncio.sleep``), the chain as sequential ``execute_activity`` calls, the fan-out as
``asyncio.gather`` over activity calls, then a join activity. Kept in its own module because
Temporal's sandbox re-imports the workflow's module on every run.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import work

TIMEOUT = timedelta(seconds=60)


@activity.defn
async def link(previous: int) -> int:
    return work.link(previous)


@activity.defn
async def nap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@activity.defn
async def join(results: list[float]) -> int:
    return work.join(results)


@workflow.defn
class Chain:
    @workflow.run
    async def run(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = await workflow.execute_activity(link, value, start_to_close_timeout=TIMEOUT)
        return value


@workflow.defn
class FanOut:
    @workflow.run
    async def run(self, n: int, seconds: float) -> int:
        results = await asyncio.gather(
            *(
                workflow.execute_activity(nap, seconds, start_to_close_timeout=TIMEOUT)
                for _ in range(n)
            )
        )
        return await workflow.execute_activity(join, list(results), start_to_close_timeout=TIMEOUT)


WORKFLOWS = [Chain, FanOut]
ACTIVITIES = [link, nap, join]
