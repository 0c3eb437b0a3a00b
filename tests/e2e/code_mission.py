"""A mission written as code, run as a script by the crash tests: ``python -m
tests.e2e.code_mission DIR``. Each step appends to DIR/<step>; the second sleeps."""

from __future__ import annotations

import sys
from pathlib import Path

from prefect.runtime import flow_run

from autoagent import mission, step


@step
def counted(folder: str, name: str, seconds: float = 0.0) -> str:
    import time

    with (Path(folder) / name).open("a") as out:
        out.write("x\n")
    time.sleep(seconds)
    return name


@mission(name="code-crash")
def code_crash(folder: str) -> list[str]:
    print(f"mission run {flow_run.id}")
    done = [counted.named("one")(folder, "one")]
    done.append(counted.named("two")(folder, "two", 8.0))
    done.append(counted.named("three")(folder, "three"))
    return done


if __name__ == "__main__":
    state = code_crash(folder=sys.argv[1], return_state=True)
    sys.exit(0 if state.is_completed() else 1)
