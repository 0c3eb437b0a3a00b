"""Approval latency: from an answer sent to the next step running, AutoAgent vs plain Prefect.

Both run on a Prefect server on a fresh PostgreSQL database on this machine. AutoAgent: a mission
of N approvals, each followed by a step that reads the clock; the answer goes through
``autoagent.approve`` (``resume_flow_run`` with the form's input). Plain Prefect: a flow that calls
``pause_flow_run(wait_for_input=...)`` N times with its defaults, answered with
``resume_flow_run``. A sample is answer sent → next step's clock, both on this host's clock.

    .venv/bin/python bench/approval_latency.py [--samples 10]
"""

from __future__ import annotations

import argparse
import contextvars
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import services  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

RESULTS = HERE / "results" / "approval_latency.json"


def _autoagent(samples: int) -> list[float]:
    from autoagent.api import answers, runs
    from autoagent.server import inputs
    from autoagent.spec import validate_data

    steps: list[dict[str, Any]] = []
    for i in range(samples):
        steps.append({"id": f"ask{i}", "approval": {"title": f"Sample {i}"}})
        if i:
            steps[-1]["needs"] = [f"clock{i - 1}"]
        steps.append(
            {
                "id": f"clock{i}",
                "agent": "python",
                "needs": [f"ask{i}"],
                "input": {"function": "bench_tools:now"},
            }
        )
    spec = validate_data({"name": "approval-latency", "steps": steps})
    flow_run = runs.create(spec, {})
    finished: list[Any] = []
    thread = _background(lambda: finished.append(runs.execute(flow_run, spec=spec)))
    sent: list[float] = []
    for i in range(samples):
        _until(lambda i=i: _paused_on(flow_run.id, inputs.keyset(f"ask{i}")))
        sent.append(time.time())
        answers.approve(str(flow_run.id), f"ask{i}")
    thread.join(120)
    records = finished[0].outcomes
    return [records[f"clock{i}"].output - sent[i] for i in range(samples)]


def _plain_prefect(samples: int) -> list[float]:
    from prefect import flow, get_client, task
    from prefect.flow_runs import pause_flow_run
    from prefect.input import RunInput
    from prefect.states import Pending

    class Answer(RunInput):
        approved: bool

    @task
    def clock() -> float:
        return time.time()

    @flow(name="plain-approval-latency")
    def plain(n: int) -> list[float]:
        stamps = []
        for i in range(n):
            pause_flow_run(wait_for_input=Answer, key=f"ask{i}")
            stamps.append(clock())
        return stamps

    from prefect.flow_engine import run_flow

    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(flow=plain, parameters={"n": samples}, state=Pending())
    result: list = []
    thread = _background(
        lambda: result.append(run_flow(plain, flow_run=flow_run, parameters={"n": samples}))
    )
    sent: list[float] = []
    for i in range(samples):
        _until(lambda i=i: _paused_count(flow_run.id) > i)
        sent.append(time.time())
        with get_client(sync_client=True) as client:
            client.resume_flow_run(flow_run.id, run_input={"approved": True})
    thread.join(120 + 15 * samples)
    return [stamp - sent[i] for i, stamp in enumerate(result[0])]


def _paused_on(run_id: Any, keyset: dict[str, str]) -> bool:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    return bool(state and state.is_paused() and state.state_details.run_input_keyset == keyset)


def _paused_count(run_id: Any) -> int:
    from prefect import get_client
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        states = client.read_flow_run_states(run_id)
        current = client.read_flow_run(run_id).state
    paused = sum(1 for s in states if s.type == StateType.PAUSED)
    return paused if current and current.is_paused() else paused - 1


def _background(target: Any) -> threading.Thread:
    thread = threading.Thread(target=contextvars.copy_context().run, args=(target,), daemon=True)
    thread.start()
    return thread


def _until(predicate: Any, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("the run did not reach its next approval")
        time.sleep(0.02)


def _row(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "max": ordered[-1],
        "n": len(ordered),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args(argv)
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="approval-latency-"))
    database = f"bench_approval_{uuid.uuid4().hex[:8]}"
    services.create_database(database)
    server = services.start_prefect(work / "prefect-home", database, work)
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: server.env["PREFECT_API_URL"]}):
            with console.status("AutoAgent approvals…"):
                ours = _autoagent(args.samples)
            with console.status("plain Prefect pause_flow_run (default poll: 10 s)…"):
                plain = _plain_prefect(max(3, args.samples // 2))
    finally:
        server.stop()
        services.drop_database(database)
    result = {
        "autoagent": _row(ours),
        "plain_prefect": _row(plain),
        "samples": {"autoagent": ours, "plain_prefect": plain},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    table = Table(title="Approval latency: answer sent → next step running (seconds)")
    for column in ("system", "median", "p90", "max", "samples"):
        table.add_column(column, justify="right" if column != "system" else "left")
    for name, row in (
        ("AutoAgent", result["autoagent"]),
        ("plain Prefect", result["plain_prefect"]),
    ):
        table.add_row(
            name, f"{row['median']:.3f}", f"{row['p90']:.3f}", f"{row['max']:.3f}", str(row["n"])
        )
    console.print(table)
    console.print(f"written to {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
