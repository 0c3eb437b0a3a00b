"""The server's share of every step: CPU the self-hosted stack spends per step, AutoAgent vs plain
Prefect.

On the stack of ``make stack-up`` (API, background services, PostgreSQL; a fresh database), each
scenario runs in this process and the stack's CPU is read from /proc before it starts and after
the server has ingested all it was sent (the machine idle again): the API's and the services'
process groups, and PostgreSQL's processes (the backends alive, and those that exited, through
the postmaster's children times; on a machine where nothing else uses PostgreSQL meanwhile).
Scenarios: a chain of 40 light steps, a fan-out of 200 items and a join; the figure is the stack's
CPU divided by the steps (AutoAgent) or task runs (plain Prefect).

    .venv/bin/python bench/server_share.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import services  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

RESULTS = HERE / "results" / "server_share.json"
CHAIN, FANOUT = 40, 200


def _autoagent(steps: list[dict[str, Any]]) -> Callable[[], None]:
    from autoagent.api import runs
    from autoagent.spec import validate_data

    spec = validate_data({"name": f"share-{uuid.uuid4().hex[:6]}", "steps": steps})

    def run() -> None:
        flow_run = runs.create(spec, {})
        finished = runs.execute(flow_run, spec=spec)
        assert finished.state.is_completed(), finished.state.message

    return run


def _chain_spec() -> list[dict[str, Any]]:
    return [
        {
            "id": f"s{i}",
            "agent": "echo",
            "input": {"value": i},
            **({"needs": [f"s{i - 1}"]} if i else {}),
        }
        for i in range(CHAIN)
    ]


def _fanout_spec() -> list[dict[str, Any]]:
    return [
        {
            "id": "items",
            "agent": "echo",
            "for_each": list(range(FANOUT)),
            "input": {"value": "{{ item }}"},
        },
        {
            "id": "join",
            "agent": "echo",
            "needs": ["items"],
            "input": {"value": "{{ steps.items.output | length }}"},
        },
    ]


def _plain(kind: str) -> Callable[[], None]:
    from prefect import flow, task

    @task
    def echo(value: Any) -> Any:
        return value

    @flow(name=f"plain-{kind}")
    def chain() -> None:
        value = 0
        for i in range(CHAIN):
            value = echo(i + value * 0)

    @flow(name=f"plain-{kind}")
    def fanout() -> None:
        echo(len(echo.map(range(FANOUT)).result()))

    body = chain if kind == "chain" else fanout
    return lambda: body()


SCENARIOS = {
    ("chain40", "autoagent"): (lambda: _autoagent(_chain_spec()), CHAIN),
    ("chain40", "plain Prefect"): (lambda: _plain("chain"), CHAIN),
    ("fanout200", "autoagent"): (lambda: _autoagent(_fanout_spec()), FANOUT + 2),
    ("fanout200", "plain Prefect"): (lambda: _plain("fanout"), FANOUT + 1),
}


def measure(stack_dir: Path, run: Callable[[], None], steps: int) -> dict[str, float]:
    services.wait_until_quiet(limit=30)
    before = services.stack_cpu(stack_dir)
    started = time.perf_counter()
    run()
    wall = time.perf_counter() - started
    services.wait_until_quiet(busy_below=0.1, window=1.0, limit=60)  # the server ingests the rest
    after = services.stack_cpu(stack_dir)
    spent = {k: after[k] - before[k] for k in after}
    total = sum(spent.values())
    return {
        "wall": wall,
        "ms_per_step": total / steps * 1000,
        **{k: v / steps * 1000 for k, v in spent.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="server-share-"))
    database = f"bench_share_{uuid.uuid4().hex[:8]}"
    services.create_database(database)
    stack = services.start_prefect_stack(work / "stack", database, work)
    rows: dict[str, dict[str, Any]] = {}
    try:
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        settings = {
            PREFECT_API_URL: stack.env["PREFECT_API_URL"],
            PREFECT_API_AUTH_STRING: stack.env["PREFECT_API_AUTH_STRING"],
        }
        with temporary_settings(updates=settings):
            for (scenario, system), (make, steps) in SCENARIOS.items():
                run = make()
                with console.status(f"{scenario} on {system}…"):
                    run()  # warm-up
                    samples = [measure(work / "stack", run, steps) for _ in range(args.runs)]
                rows[f"{scenario}/{system}"] = {
                    "scenario": scenario,
                    "system": system,
                    "steps": steps,
                    **{k: statistics.median(s[k] for s in samples) for k in samples[0]},
                    "samples": samples,
                }
    finally:
        stack.stop()
        services.drop_database(database)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    table = Table(title=f"The stack's CPU per step (ms, median of {args.runs})")
    for column in ("scenario", "system", "per step", "API", "services", "PostgreSQL", "run (s)"):
        table.add_column(column, justify="left" if column in ("scenario", "system") else "right")
    for row in rows.values():
        table.add_row(
            row["scenario"],
            row["system"],
            f"{row['ms_per_step']:.1f}",
            f"{row['api']:.1f}",
            f"{row['services']:.1f}",
            f"{row['postgres']:.1f}",
            f"{row['wall']:.2f}",
        )
    console.print(table)
    console.print(f"written to {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
