"""A mission written in Python with AutoAgent's helpers, served as a deployment by the tests."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from prefect import flow, task

import autoagent


@task(persist_result=True)  # a durable step: cached for the rest of this flow run
def count(directory: str, name: str) -> None:
    with (Path(directory) / name).open("a") as out:
        out.write(f"{time.time()}\n")


@flow(name="python-release", persist_result=False)
def release(directory: str) -> dict:
    count(directory, "before")
    answer = autoagent.approval("Release?", step="gate", fields={"ticket": {"type": "int"}})
    count(directory, "approved")
    payload = autoagent.event("deployed")
    count(directory, "signalled")
    autoagent.wait(6, step="cool-down")
    count(directory, "after")
    return {"ticket": answer["ticket"], "payload": payload}


def serve() -> None:
    from prefect.runner import Runner

    runner = Runner(name="python-missions", query_seconds=1, prefetch_seconds=1)
    runner.add_flow(release, name="release")
    print("serving python-release/release", flush=True)
    asyncio.run(runner.start())


if __name__ == "__main__":
    sys.exit(serve())
