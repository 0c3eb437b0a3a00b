"""Many missions at once on one server: thirty missions started together in one process all
complete, and the server records every step of each (no lost record, no false crash)."""

from __future__ import annotations

import contextvars
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from autoagent.api import runs
from autoagent.server.finding import RunQuery, find
from autoagent.server.reader import open_reader
from autoagent.spec import validate_data
from tests.missions import read_status

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MISSIONS = 30
STEPS = 10


def chain(name: str) -> dict:
    steps = [
        {
            "id": f"s{i}",
            "agent": "echo",
            "input": {"value": f"{{{{ steps.s{i - 1}.output + 1 }}}}" if i else 0},
            **({"needs": [f"s{i - 1}"]} if i else {}),
        }
        for i in range(STEPS)
    ]
    return {"name": name, "steps": steps}


def test_thirty_missions_started_at_once_all_complete_with_every_step_recorded(prefect_api):
    tag = uuid.uuid4().hex[:6]
    specs = [validate_data(chain(f"many-{tag}-{k}")) for k in range(MISSIONS)]

    def one(spec):
        flow_run = runs.create(spec, {})
        finished = runs.execute(flow_run, spec=spec)
        assert runs.recorded(finished, 60), f"{spec.name}: the server is missing step records"
        return finished

    with ThreadPoolExecutor(MISSIONS) as pool:  # each in this context: the session's server
        futures = [pool.submit(contextvars.copy_context().run, one, spec) for spec in specs]
        done = [future.result() for future in futures]
    assert [f.state.name for f in done] == ["Completed"] * MISSIONS
    assert all(f.outputs()[f"s{STEPS - 1}"] == STEPS - 1 for f in done)
    for finished in done:
        tree = read_status(finished.run_id)
        assert tree.state == "Completed"
        assert [s.state for s in tree.steps] == ["completed"] * STEPS, finished.run_id
        assert all(s.attempts == 1 for s in tree.steps)  # each ran once: no false crash, no rerun
    with open_reader() as reader:
        listed = {f.run.name.rsplit("-", 1)[0] for f in find(reader, RunQuery(limit=200))}
    assert {s.name for s in specs} <= listed
