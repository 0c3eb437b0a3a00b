"""DBOS: ``@DBOS.step()`` functions in ``@DBOS.workflow()``s, checkpointed in PostgreSQL.

DBOS is a library, not a server: it runs in this process against its own system database (a
fresh one that ``overhead.py`` creates). Workflows and steps are async, like Temporal's
activities: the chain awaits the link step 40 times; the fan-out starts the nap steps as
asyncio tasks in a deterministic order and gathers them, which is how DBOS documents running
steps in parallel, then runs the join step. (Starting each nap with ``DBOS.start_workflow`` as a
child workflow took about 1.8 s here, and enqueueing them on a DBOS queue about 2.6 s, against
about 0.85 s for the gather: the benchmark measures DBOS's fastest documented form.)

One event loop in a background thread runs every workflow; the timed span is the workflow call,
which starts the workflow and returns its result.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Coroutine
from typing import Any

import work
from dbos import DBOS

from systems import expect


@DBOS.step()
async def link(previous: int) -> int:
    return work.link(previous)


@DBOS.step()
async def nap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@DBOS.step()
async def join(results: list[float]) -> int:
    return work.join(results)


@DBOS.workflow()
async def chain_workflow(n: int) -> int:
    value = 0
    for _ in range(n):
        value = await link(value)
    return value


@DBOS.workflow()
async def fanout_workflow(n: int, seconds: float) -> int:
    tasks = [asyncio.create_task(nap(seconds)) for _ in range(n)]
    results = await asyncio.gather(*tasks)
    return await join(list(results))


class Dbos:
    def setup(self) -> None:
        url = os.environ.get("BENCH_DBOS_URL")
        if not url:
            raise RuntimeError("no database for DBOS (BENCH_DBOS_URL unset)")
        DBOS(config={"name": "autoagent-bench", "system_database_url": url, "log_level": "WARNING"})
        DBOS.launch()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dbos", daemon=True)
        self.thread.start()
        self.chain(2)  # warm the engine and its connection pool

    def _timed(self, coro: Coroutine[Any, Any, Any]) -> tuple[float, Any]:
        started = time.perf_counter()
        result = asyncio.run_coroutine_threadsafe(coro, self.loop).result(600)
        return time.perf_counter() - started, result

    def chain(self, n: int) -> float:
        elapsed, result = self._timed(chain_workflow(n))
        expect("chain output", result, n * work.FIB_VALUE)
        return elapsed

    def fanout(self, n: int, nap: float) -> float:
        elapsed, result = self._timed(fanout_workflow(n, nap))
        expect("join output", result, n)
        return elapsed

    def resume(self, n: int, marker: str) -> tuple[float, float]:
        raise NotImplementedError("the resume scenario covers AutoAgent and plain Prefect only")

    def close(self) -> None:
        DBOS.destroy()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def make() -> Dbos:
    return Dbos()
