"""Run N missions one after another in this process and print its memory after the 50th and the
last (``python -m tests.integration.memory_probe N``, against the configured server)."""

from __future__ import annotations

import gc
import json
import os
import sys

from autoagent.api import runs
from autoagent.server.client import session
from autoagent.spec import validate_data

SPEC = {
    "name": "memory-probe",
    "params": {"items": [1, 2, 3]},
    "steps": [
        {"id": "first", "agent": "echo", "input": {"value": "start"}},
        {
            "id": "fan",
            "agent": "echo",
            "needs": ["first"],
            "for_each": "{{ params.items }}",
            "input": {"value": "{{ item }}"},
            "compensate": {"agent": "echo", "input": {"value": "undo"}},
        },
        {
            "id": "group",
            "needs": ["fan"],
            "steps": [{"id": "inner", "agent": "echo", "input": {"value": 1}}],
        },
        {"id": "ask", "needs": ["group"], "approval": {"title": "Go?"}},
        {"id": "last", "agent": "echo", "needs": ["ask"], "input": {"value": "done"}},
    ],
}


def resident_bytes() -> int:
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(count: int) -> int:
    spec = validate_data(SPEC)
    measured: dict[int, int] = {}
    for done in range(1, count + 1):
        with session():
            flow_run = runs.create(spec, {}, auto_approve=True)
            finished = runs.execute(flow_run, spec=spec)
        if not finished.ok:
            print(f"mission {done} ended {finished.state.name}: {finished.state.message}")
            return 1
        if done in (50, count):
            measured[done] = resident_bytes()
    print(json.dumps(measured), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
