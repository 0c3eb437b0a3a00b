"""Temporal: the dev server started by ``overhead.py``, a worker in this process.

The worker and the client live on one asyncio loop in a background thread, so the synchronous
worker protocol can hand it a run and wait. The timed span is ``client.execute_workflow`` (start
the workflow, wait for its result), which is what a caller waits for. The worker allows 256
concurrent activities (Temporal's default is 100) to match AutoAgent's 256 parallel steps, so
the 200-way fan-out is not throttled by a limit the other systems do not have.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import work

from systems import expect

TASK_QUEUE = "autoagent-bench"


class Temporal:
    def setup(self) -> None:
        address = os.environ.get("BENCH_TEMPORAL_ADDRESS")
        if not address:
            raise RuntimeError("no Temporal dev server (BENCH_TEMPORAL_ADDRESS unset)")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="temporal", daemon=True)
        self.thread.start()
        self._call(self._start(address), timeout=90)
        self.chain(2)  # warm the sandbox and the worker's caches

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float = 600) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self, address: str) -> None:
        from temporalio.client import Client
        from temporalio.worker import Worker

        from systems import temporal_workflows as wf

        deadline = time.monotonic() + 60
        while True:
            try:
                self.client = await Client.connect(address)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        self.worker = Worker(
            self.client,
            task_queue=TASK_QUEUE,
            workflows=wf.WORKFLOWS,
            activities=wf.ACTIVITIES,
            max_concurrent_activities=256,
        )
        self.worker_task = asyncio.ensure_future(self.worker.run())

    async def _execute(self, workflow: Any, *args: Any) -> tuple[float, Any]:
        started = time.perf_counter()
        result = await self.client.execute_workflow(
            workflow, args=list(args), id=f"bench-{uuid.uuid4()}", task_queue=TASK_QUEUE
        )
        return time.perf_counter() - started, result

    def chain(self, n: int) -> float:
        from systems.temporal_workflows import Chain

        elapsed, result = self._call(self._execute(Chain.run, n))
        expect("chain output", result, n * work.FIB_VALUE)
        return elapsed

    def fanout(self, n: int, nap: float) -> float:
        from systems.temporal_workflows import FanOut

        elapsed, result = self._call(self._execute(FanOut.run, n, nap))
        expect("join output", result, n)
        return elapsed

    def resume(self, n: int, marker: str) -> tuple[float, float]:
        raise NotImplementedError("the resume scenario covers AutoAgent and plain Prefect only")

    def close(self) -> None:
        if getattr(self, "worker", None) is not None:
            self._call(self.worker.shutdown(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def make() -> Temporal:
    return Temporal()
