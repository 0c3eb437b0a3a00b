"""DBOS: ``@DBOS.step()`` functions in ``@DBOS.workflow()``s, checkpointed in PostgreSQL.

DBOS is a library, not a server: it runs in this process against its own system database (a
fresh one that ``overhead.py`` creates). The chain calls the link step 40 times; the fan-out
starts each nap with ``DBOS.start_workflow`` (DBOS runs a step started that way as its own
durable child workflow on its in-process thread pool, no queue polling) and then runs the join
step on their results. The timed span is the workflow call itself, which starts the workflow and
returns its result.
"""

from __future__ import annotations

import os
import time

from dbos import DBOS
from systems import expect

import work


@DBOS.step()
def link(previous: int) -> int:
    return work.link(previous)


@DBOS.step()
def nap(seconds: float) -> float:
    return work.nap(seconds)


@DBOS.step()
def join(results: list[float]) -> int:
    return work.join(results)


@DBOS.workflow()
def chain_workflow(n: int) -> int:
    value = 0
    for _ in range(n):
        value = link(value)
    return value


@DBOS.workflow()
def fanout_workflow(n: int, seconds: float) -> int:
    handles = [DBOS.start_workflow(nap, seconds) for _ in range(n)]
    return join([handle.get_result() for handle in handles])


class Dbos:
    def setup(self) -> None:
        url = os.environ.get("BENCH_DBOS_URL")
        if not url:
            raise RuntimeError("no database for DBOS (BENCH_DBOS_URL unset)")
        DBOS(config={"name": "autoagent-bench", "system_database_url": url, "log_level": "WARNING"})
        DBOS.launch()
        self.chain(2)  # warm the engine and its connection pool

    def chain(self, n: int) -> float:
        started = time.perf_counter()
        result = chain_workflow(n)
        elapsed = time.perf_counter() - started
        expect("chain output", result, n * work.FIB_VALUE)
        return elapsed

    def fanout(self, n: int, nap: float) -> float:
        started = time.perf_counter()
        result = fanout_workflow(n, nap)
        elapsed = time.perf_counter() - started
        expect("join output", result, n)
        return elapsed

    def resume(self, n: int, marker: str) -> tuple[float, float]:
        raise NotImplementedError("the resume scenario covers AutoAgent and plain Prefect only")

    def close(self) -> None:
        DBOS.destroy()


def make() -> Dbos:
    return Dbos()
