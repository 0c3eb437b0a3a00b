"""Serve the generic mission runner as the deployment ``mission/run-mission``.

A long-lived runner process (no work pool needed) starts each flow run of the deployment in its
own subprocess. A mission that waits (approval, event, long timer) suspends and its subprocess
exits; the runner starts the same flow run again when it is answered, signalled or due.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m deployments.serve [--poll 5]

Then ``prefect deployment run mission/run-mission -p spec=...`` or ``run_deployment``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from prefect.runner import Runner

from autoagent.engine.mission import mission
from autoagent.server.records import MISSION_TAG

DEPLOYMENT = "run-mission"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", type=float, default=5.0, help="Seconds between polls.")
    parser.add_argument(
        "--prefetch",
        type=float,
        default=10.0,
        help="Start a scheduled run this many seconds early (keep below"
        " AUTOAGENT_SUSPEND_MIN_SECONDS).",
    )
    parser.add_argument("--limit", type=int, default=None, help="Most runs at the same time.")
    args = parser.parse_args(argv)
    runner = Runner(
        name="autoagent-missions",
        query_seconds=args.poll,
        prefetch_seconds=args.prefetch,
        limit=args.limit,
    )
    runner.add_flow(mission, name=DEPLOYMENT, tags=[MISSION_TAG])
    print(f"serving mission/{DEPLOYMENT}", flush=True)
    asyncio.run(runner.start())
    return 0


if __name__ == "__main__":
    sys.exit(main())
