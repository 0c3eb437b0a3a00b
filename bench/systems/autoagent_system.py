"""AutoAgent: the three scenarios as mission specs, run through ``autoagent.api.runs``.

This is what ``autoagent run`` / ``autoagent resume`` do (one ``runs.session()`` each), minus their
terminal output and their wait for the server to record every step afterwards: the timed span is
``runs.start`` (the flow run is created) to ``runs.execute`` returning the final state. Specs are
validated before the clock starts, like a loaded spec file.
"""

from __future__ import annotations

import time
from typing import Any

import work
from services import RESUME_QUIET_LIMIT, wait_until_quiet

from systems import WrongResult, expect

TOOLS = "bench_tools"


def chain_spec(n: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for i in range(n):
        previous = 0 if i == 0 else f"{{{{ steps.s{i - 1}.output }}}}"
        step: dict[str, Any] = {
            "id": f"s{i}",
            "agent": "python",
            "input": {"function": f"{TOOLS}:chain_link", "args": [previous]},
        }
        if i:
            step["needs"] = [f"s{i - 1}"]
        steps.append(step)
    return {"name": "bench-chain", "steps": steps}


def fanout_spec(n: int, nap: float) -> dict[str, Any]:
    return {
        "name": "bench-fanout",
        "params": {"xs": list(range(n))},
        "steps": [
            {
                "id": "nap",
                "agent": "sleep",
                "for_each": "{{ params.xs }}",
                "input": {"seconds": nap},
            },
            {
                "id": "join",
                "agent": "python",
                "needs": ["nap"],
                "input": {"function": f"{TOOLS}:join_tool", "args": ["{{ steps.nap.output }}"]},
            },
        ],
    }


def resume_spec(n: int, marker: str) -> dict[str, Any]:
    """``n - 1`` light steps (one for_each) then a last step that fails until ``marker`` exists."""
    return {
        "name": "bench-resume",
        "params": {"xs": list(range(n - 1))},
        "steps": [
            {
                "id": "work",
                "agent": "echo",
                "for_each": "{{ params.xs }}",
                "input": {"value": "{{ item }}"},
            },
            {
                "id": "last",
                "agent": "python",
                "needs": ["work"],
                "retries": 0,
                "input": {
                    "function": f"{TOOLS}:finish_tool",
                    "args": ["{{ steps.work.output | length }}", marker],
                },
            },
        ],
    }


def wide_resume_spec(n: int, nap: float, marker: str) -> dict[str, Any]:
    """``n`` naps of which the last fails until ``marker`` exists, then a join."""
    return {
        "name": "bench-wide-resume",
        "params": {"xs": list(range(n))},
        "steps": [
            {
                "id": "nap",
                "agent": "python",
                "for_each": "{{ params.xs }}",
                "input": {
                    "function": f"{TOOLS}:nap_or_fail",
                    "args": ["{{ item }}", nap, n - 1, marker],
                },
            },
            {
                "id": "join",
                "agent": "python",
                "needs": ["nap"],
                "input": {"function": f"{TOOLS}:join_tool", "args": ["{{ steps.nap.output }}"]},
            },
        ],
    }


class AutoAgent:
    def setup(self) -> None:
        from autoagent.api import runs
        from autoagent.server.client import session
        from autoagent.spec import validate_data

        self.runs = runs
        self.session = session
        self.validate = validate_data
        # Warm the imports and the results block once, as any long-lived process would have.
        self._run(self.validate(chain_spec(2)), expect_ok=True)

    def _run(self, spec: Any, expect_ok: bool) -> tuple[float, Any]:
        started = time.perf_counter()
        with self.session():  # as `autoagent run` does: one API client for the run
            flow_run = self.runs.create(spec, {})
            finished = self.runs.execute(flow_run, spec=spec)
        elapsed = time.perf_counter() - started
        state = finished.state
        if expect_ok and not finished.ok:
            raise WrongResult(f"mission {spec.name} ended {state.name}: {state.message}")
        return elapsed, (flow_run, finished)

    def chain(self, n: int) -> float:
        elapsed, (_, finished) = self._run(self.validate(chain_spec(n)), expect_ok=True)
        expect("chain output", finished.outputs()[f"s{n - 1}"], n * work.FIB_VALUE)
        return elapsed

    def fanout(self, n: int, nap: float) -> float:
        elapsed, (_, finished) = self._run(self.validate(fanout_spec(n, nap)), expect_ok=True)
        expect("join output", finished.outputs()["join"], n)
        return elapsed

    def resume(self, n: int, marker: str) -> tuple[float, float]:
        first, (flow_run, failed) = self._run(self.validate(resume_spec(n, marker)), False)
        if not failed.state.is_failed():
            raise WrongResult(
                f"first run should fail on its last step, it ended {failed.state.name}"
            )
        open(marker, "w").close()
        # a crashed run is resumed later, not while the server still ingests its steps' events
        wait_until_quiet(limit=RESUME_QUIET_LIMIT)
        started = time.perf_counter()
        with self.session():  # as `autoagent resume` does
            again = self.runs.prepare_resume(str(flow_run.id))
            finished = self.runs.execute(again)
        resumed = time.perf_counter() - started
        if not finished.ok:
            state = finished.state
            raise WrongResult(f"resume ended {state.name}: {state.message}")
        expect("last output", finished.outputs()["last"], n - 1)
        done = finished.outcomes
        work = done.get("work")
        if work is not None and work.cached:  # the whole fan-out came back from its one record
            cached = len(work.output)
        else:
            cached = sum(1 for path, o in done.items() if path.startswith("work[") and o.cached)
        expect("steps served from cache on resume", cached, n - 1)
        return first, resumed

    def wide_resume(self, n: int, nap: float, marker: str) -> tuple[float, float]:
        """A wide fan-out whose last item fails, then resumed: only that item runs again."""
        spec = self.validate(wide_resume_spec(n, nap, marker))
        first, (flow_run, failed) = self._run(spec, expect_ok=False)
        if not failed.state.is_failed():
            raise WrongResult(f"first run should fail on its last item: {failed.state.name}")
        open(marker, "w").close()
        wait_until_quiet(limit=RESUME_QUIET_LIMIT)
        started = time.perf_counter()
        with self.session():
            finished = self.runs.execute(self.runs.prepare_resume(str(flow_run.id)))
        resumed = time.perf_counter() - started
        if not finished.ok:
            raise WrongResult(f"resume ended {finished.state.name}: {finished.state.message}")
        expect("join output", finished.outputs()["join"], n)
        ran = [o for p, o in finished.outcomes.items() if p.startswith("nap[") and ":" not in p]
        expect("items run again", sum(1 for o in ran if not o.cached), 1)
        return first, resumed

    def missions(self, n: int, steps: int) -> dict[str, float]:
        """``n`` chains of ``steps`` started at once (one thread each, as many in-process as
        the machine allows): wall time, steps a second, p95 mission latency; and how long
        ``autoagent list`` made a user wait meanwhile (the CLI, run again and again)."""
        import subprocess
        import sys
        import threading
        from concurrent.futures import ThreadPoolExecutor
        from pathlib import Path

        specs = [self.validate({**chain_spec(steps), "name": f"bench-many-{k}"}) for k in range(n)]
        listed: list[float] = []
        failures: list[str] = []
        done = threading.Event()

        def one(spec: Any) -> float:
            began = time.perf_counter()
            self._run(spec, expect_ok=True)
            return time.perf_counter() - began

        def list_meanwhile() -> None:
            command = [str(Path(sys.executable).parent / "autoagent"), "list"]
            while not done.is_set():
                began = time.perf_counter()
                answer = subprocess.run(command, capture_output=True, timeout=120)
                if answer.returncode != 0:
                    failures.append(answer.stderr.decode(errors="replace")[-300:])
                listed.append(time.perf_counter() - began)
                done.wait(1.0)

        lister = threading.Thread(target=list_meanwhile, name="list")
        started = time.perf_counter()
        lister.start()
        try:
            with ThreadPoolExecutor(n) as pool:
                latencies = sorted(pool.map(one, specs))
        finally:
            done.set()
            lister.join()
        if failures:
            raise WrongResult(f"autoagent list failed meanwhile: {failures[0]}")
        wall = time.perf_counter() - started
        return {
            "seconds": wall,
            "steps_per_second": n * steps / wall,
            "p95": latencies[max(0, int(0.95 * n) - 1)],
            "list_seconds_max": max(listed, default=0.0),
            "list_seconds_median": sorted(listed)[len(listed) // 2] if listed else 0.0,
        }

    def close(self) -> None:
        pass


def make() -> AutoAgent:
    return AutoAgent()
