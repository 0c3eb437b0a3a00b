"""Missions through the multi-host cluster: steps per second with one worker host, then two.

Brings up its own cluster (infra/prefect-server/cluster.py, as root: network namespaces), deploys
the project, then for each worker count starts ``--missions`` deployed missions of ``--steps``
shell steps at once and times them from the first run created to the last Completed. The
other worker host is killed for the one-worker round. Writes ``results/cluster_throughput.json``
and prints a table. Both "hosts" share this machine's cores: the second worker adds a poller and
a process launcher, not CPU, so the ratio says how the pool spreads work, not how it scales.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLUSTER = ROOT / "infra" / "prefect-server" / "cluster.py"
RESULTS = ROOT / "bench" / "results" / "cluster_throughput.json"


class Bench:
    def __init__(self, workdir: Path) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
            "CLUSTER_DIR": str(workdir / "cluster"),
            "CLUSTER_NAME": f"b{secrets.token_hex(2)}",
            "CLUSTER_SUBNET": f"10.231.{200 + secrets.randbelow(50)}",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        self.client_env: dict[str, str] = {}
        self.workdir = workdir

    def cluster(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(CLUSTER), *args], env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"cluster.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def client(self, *argv: str) -> str:
        done = subprocess.run(
            list(argv), env=self.client_env, capture_output=True, text=True, cwd=ROOT
        )
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def up(self) -> None:
        exports = {}
        for line in self.cluster("up").splitlines():
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").partition("=")
                exports[key] = value.strip("'")
        self.client_env = {**self.env, **exports}
        self.client(str(BIN / "prefect"), "--no-prompt", "deploy", "--all")

    def round(self, missions: int, steps: int) -> dict[str, float]:
        spec = {
            "name": "throughput",
            "steps": [
                {
                    "id": f"s{i}",
                    "agent": "echo",
                    "needs": [f"s{i - 1}"] if i else [],
                    "input": {"value": i},
                }
                for i in range(steps)
            ],
        }
        path = self.workdir / "throughput.yaml"
        path.write_text(yaml.safe_dump(spec))
        started = time.monotonic()
        with self._prefect() as prefect:
            deployment = prefect.read_deployment_by_name("mission/run-mission")
            ids = [
                prefect.create_flow_run_from_deployment(
                    deployment.id, parameters={"spec": str(path)}
                ).id
                for _ in range(missions)
            ]
        pending = set(ids)
        with self._prefect() as prefect:
            while pending:
                for run_id in list(pending):
                    state = prefect.read_flow_run(run_id).state
                    if state is not None and state.is_final():
                        if not state.is_completed():
                            raise SystemExit(
                                f"mission {run_id} ended {state.name}: {state.message}"
                            )
                        pending.discard(run_id)
                time.sleep(0.5)
        seconds = time.monotonic() - started
        return {"seconds": seconds, "steps_per_second": missions * steps / seconds}

    @contextlib.contextmanager
    def _prefect(self) -> Iterator[Any]:
        from prefect import get_client
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        settings = {
            PREFECT_API_URL: self.client_env["PREFECT_API_URL"],
            PREFECT_API_AUTH_STRING: self.client_env["PREFECT_API_AUTH_STRING"],
        }
        with temporary_settings(updates=settings), get_client(sync_client=True) as client:
            yield client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--missions", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("the cluster needs root (network namespaces)", file=sys.stderr)
        return 1
    console = Console()
    with tempfile.TemporaryDirectory(prefix="aa-cluster-bench-") as tmp:
        bench = Bench(Path(tmp))
        try:
            with console.status("cluster up and deployed"):
                bench.up()
            rows: dict[str, Any] = {}
            bench.cluster("kill", "worker-2")
            with console.status(f"{args.missions} missions, one worker host"):
                rows["one worker"] = bench.round(args.missions, args.steps)
            bench.cluster("start", "worker-2")
            with console.status(f"{args.missions} missions, two worker hosts"):
                rows["two workers"] = bench.round(args.missions, args.steps)
        finally:
            bench.cluster("down", "--purge")
    table = Table(title=f"{args.missions} missions of {args.steps} steps through the cluster")
    for column in ("workers", "wall time", "steps/s"):
        table.add_column(column)
    for name, row in rows.items():
        table.add_row(name, f"{row['seconds']:.1f} s", f"{row['steps_per_second']:.2f}")
    console.print(table)
    RESULTS.write_text(
        json.dumps(
            {
                "measured": datetime.now(UTC).isoformat(),
                "missions": args.missions,
                "steps": args.steps,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
