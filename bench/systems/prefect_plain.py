"""Plain Prefect: the same work as hand-written, idiomatic Prefect 3 flows (the baseline).

Sync flows and ``@task``s, the default ThreadPoolTaskRunner; the chain calls each task directly
(the idiomatic form for a strictly sequential chain), the fan-out uses ``.map()`` futures handed
to the join task; the flow is called like a function (that call creates the flow run, so flow-run
creation is timed too).

Result persistence is Prefect's default here, i.e. off for the chain and the fan-out: those runs
keep results in memory only, so a crashed run has nothing to resume from and starts over, every
task running again. AutoAgent persists every step's result (that is its resume), so part of its
overhead over this baseline is durability plain Prefect does not give by default. The resume
scenario turns persistence on (``persist_result=True``), which with Prefect's default cache
policy (inputs + task source + flow run id) makes completed tasks cache hits when the same flow
run is run again, the way Prefect's own retry of a flow run does.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import work
from prefect import flow, task
from prefect.states import State
from services import RESUME_QUIET_LIMIT, wait_until_quiet

from systems import WrongResult, expect


@task
def link(previous: int) -> int:
    return work.link(previous)


@task
def nap(seconds: float) -> float:
    return work.nap(seconds)


@task
def join(results: list[float]) -> int:
    return work.join(results)


@flow
def chain(n: int) -> int:
    value = 0
    for _ in range(n):
        value = link(value)
    return value


@flow
def fanout(n: int, seconds: float) -> int:
    futures = nap.map([seconds] * n)
    return join(futures)


_executed = {"light": 0}
_lock = threading.Lock()


@flow
def empty() -> int:
    return 0


@task(persist_result=True)
def light(item: int) -> int:
    with _lock:  # counts real executions, so the resume can prove they were cache hits
        _executed["light"] += 1
    return item


@task(persist_result=True)
def finish(results: list[int], marker: str) -> int:
    return work.finish(len(results), marker)


@flow(persist_result=True)
def resumable(n: int, marker: str) -> int:
    futures = light.map(range(n - 1))
    return finish(futures, marker)


class PlainPrefect:
    def setup(self) -> None:
        # Warm imports and the engine once, as any long-lived process would have.
        self._timed(lambda: chain(2, return_state=True))

    @staticmethod
    def _timed(call: Any) -> tuple[float, State]:
        started = time.perf_counter()
        state = call()
        elapsed = time.perf_counter() - started
        return elapsed, state

    def chain(self, n: int) -> float:
        elapsed, state = self._timed(lambda: chain(n, return_state=True))
        expect("chain output", state.result(), n * work.FIB_VALUE)
        return elapsed

    def fanout(self, n: int, nap: float) -> float:
        elapsed, state = self._timed(lambda: fanout(n, nap, return_state=True))
        expect("join output", state.result(), n)
        return elapsed

    def empty(self) -> float:
        """An empty flow run: the fixed cost under every Prefect-based figure here."""
        elapsed, state = self._timed(lambda: empty(return_state=True))
        expect("empty flow output", state.result(), 0)
        return elapsed

    def resume(self, n: int, marker: str) -> tuple[float, float]:
        from prefect import get_client
        from prefect.flow_engine import run_flow
        from prefect.states import Pending

        first, state = self._timed(lambda: resumable(n, marker, return_state=True))
        if not state.is_failed():
            raise WrongResult(f"first run should fail on its last task, it ended {state.name}")
        flow_run_id = state.state_details.flow_run_id
        open(marker, "w").close()
        # a crashed run is resumed later, not while the server still ingests its steps' events
        wait_until_quiet(limit=RESUME_QUIET_LIMIT)
        executed_before = _executed["light"]

        def again() -> State:
            # Run the same flow run again: put it back to Pending, then let the engine run it.
            with get_client(sync_client=True) as client:
                client.set_flow_run_state(flow_run_id, Pending(), force=True)
                flow_run = client.read_flow_run(flow_run_id)
            return run_flow(
                resumable, flow_run=flow_run, parameters=flow_run.parameters, return_type="state"
            )

        resumed, state = self._timed(again)
        if not state.is_completed():
            raise WrongResult(f"resume ended {state.name}: {state.message}")
        expect("finish output", state.result(), n - 1)
        expect("light tasks executed again on resume", _executed["light"] - executed_before, 0)
        return first, resumed

    def close(self) -> None:
        pass


def make() -> PlainPrefect:
    return PlainPrefect()
