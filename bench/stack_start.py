"""How long the self-hosted stack takes to come up, and to run its first mission.

``make bench`` runs this after the CLI latencies. On a database of its own (dropped at the end)
and a free port, it times, as a user types them:

* ``stack.py up`` on a new database (Prefect's migrations run): once, it is a first use;
* ``stack.py up`` again after ``down`` (the database kept), the median of ``--runs``;
* the first ``autoagent run`` of a one-step mission right after each of those, to its end.

"Up" is until the command returns: the API answers its health check and every process (API,
services, process worker) is still alive. Writes ``results/stack_start.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STACK = ROOT / "infra" / "prefect-server" / "stack.py"
RESULTS = ROOT / "bench" / "results" / "stack_start.json"
SPEC = {"name": "stack-start", "steps": [{"id": "hello", "agent": "echo", "input": {"value": 1}}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[1:])} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def client_env(stack_env: dict[str, str]) -> dict[str, str]:
    """The two variables `stack.py up` prints, for the CLI."""
    printed = subprocess.run(
        [sys.executable, str(STACK), "env"], env=stack_env, capture_output=True, text=True
    ).stdout
    env = dict(stack_env)
    for line in printed.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if name.startswith("PREFECT_"):
            env[name] = value.strip("'\"")
    return env


def measure(runs: int, console: Console) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="autoagent-stack-bench-"))
    spec = work / "mission.json"
    spec.write_text(json.dumps(SPEC))
    database = f"autoagent_bench_{os.getpid()}"
    env = {
        **os.environ,
        "STACK_DIR": str(work / "stack"),
        "STACK_DB": database,
        "STACK_PORT": str(free_port()),
        "STACK_METRICS_PORT": str(free_port()),
        "STACK_DOCKER": "0",
        "PREFECT_HOME": str(work / "prefect-home"),
    }
    env.pop("PREFECT_API_URL", None)
    up = [sys.executable, str(STACK), "up"]
    down = [sys.executable, str(STACK), "down"]
    mission = [str(BIN / "autoagent"), "run", str(spec)]
    figures: dict[str, Any] = {"up_again": [], "first_mission_again": []}
    try:
        with console.status("stack up on a new database (migrations)…"):
            figures["up_new_database"] = timed(up, env)
            figures["first_mission_new_database"] = timed(mission, client_env(env))
        for attempt in range(1, runs + 1):
            with console.status(f"stack down, then up again ({attempt}/{runs})…"):
                timed(down, env)
                figures["up_again"].append(timed(up, env))
                figures["first_mission_again"].append(timed(mission, client_env(env)))
    finally:
        subprocess.run(down, env=env, capture_output=True, timeout=120)
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", database],
            capture_output=True,
            timeout=60,
        )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="ups on the kept database")
    args = parser.parse_args()
    console = Console()
    figures = measure(args.runs, console)
    again = statistics.median(figures["up_again"])
    mission_again = statistics.median(figures["first_mission_again"])
    table = Table(title=f"Self-hosted stack (native), {os.cpu_count()} cores")
    table.add_column("what")
    table.add_column("seconds", justify="right")
    table.add_row("stack.py up, new database (migrations)", f"{figures['up_new_database']:.1f}")
    table.add_row(f"stack.py up, database kept (median of {args.runs})", f"{again:.1f}")
    table.add_row(
        "first `autoagent run` after up, new database",
        f"{figures['first_mission_new_database']:.1f}",
    )
    table.add_row(
        f"first `autoagent run` after up, again (median of {args.runs})", f"{mission_again:.1f}"
    )
    console.print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"measured": datetime.now(UTC).isoformat(), **figures}, indent=2) + "\n"
    )
    print(f"stack up_new={figures['up_new_database']:.1f}s up_again={again:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
