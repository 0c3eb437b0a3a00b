"""Assets on a real Prefect server: steps with `asset:` are recorded as materializations with
their lineage (the assets of the steps they need, through steps and groups without one), and
`autoagent status` and the report show it, since the OSS server has no lineage view."""

from __future__ import annotations

import uuid

import pytest

from autoagent.server import materializations
from autoagent.server.reader import open_reader
from tests.e2e.cli import autoagent, cli_env, wait_for
from tests.missions import run_mission

pytestmark = [pytest.mark.integration]


def _spec() -> dict:
    return {
        "name": f"assets-{uuid.uuid4().hex[:6]}",
        "steps": [
            {"id": "raw", "agent": "echo", "input": {"value": 1}, "asset": "file://data/raw.csv"},
            {
                "id": "clean",
                "agent": "echo",
                "needs": ["raw"],
                "input": {"value": 2},
                "asset": "file://data/clean.csv",
            },
            {"id": "mid", "agent": "echo", "needs": ["clean"], "input": {"value": 3}},
            {
                "id": "enrich",
                "steps": [
                    {
                        "id": "extra",
                        "agent": "echo",
                        "input": {"value": 4},
                        "asset": "file://data/extra.json",
                    }
                ],
            },
            {
                "id": "report",
                "agent": "echo",
                "needs": ["mid", "enrich"],
                "input": {"value": 5},
                "asset": "file://reports/summary.md",
            },
        ],
    }


def test_materializations_carry_their_lineage(prefect_api, prefect_server):
    run = run_mission(_spec())
    assert run.state.is_completed(), run.state.message
    with open_reader() as reader:
        ids = [r.id for r in reader.descendants(run.flow_run.id)]

        def all_recorded() -> bool:
            return len(materializations.recorded(reader, ids)) == 4

        wait_for(all_recorded, timeout=30, what="four materialization events")
        found = {m.key: m for m in materializations.recorded(reader, ids)}
    assert found["file://data/raw.csv"].upstream == []
    assert found["file://data/clean.csv"].upstream == ["file://data/raw.csv"]
    assert found["file://reports/summary.md"].upstream == [
        "file://data/clean.csv",
        "file://data/extra.json",
    ]
    assert found["file://reports/summary.md"].step == "report"
    assert found["file://data/extra.json"].step == "enrich/extra"

    shown = autoagent("status", run.id, env=cli_env(prefect_server.env()))
    assert shown.returncode == 0, shown.stderr
    assert "assets (lineage):" in shown.stdout
    assert (
        "file://reports/summary.md ← file://data/clean.csv, file://data/extra.json  materialized"
        in shown.stdout
    ), shown.stdout


def test_the_report_shows_the_lineage(prefect_api):
    from prefect import get_client

    spec = _spec()
    run = run_mission(spec)
    assert run.state.is_completed()
    with get_client(sync_client=True) as client:
        [artifact] = [
            a
            for a in client.read_artifacts()
            if a.key == f"mission-{spec['name']}" and a.flow_run_id == run.flow_run.id
        ]
    assert "## Assets" in artifact.data
    assert "| `file://data/clean.csv` | `file://data/raw.csv` |" in artifact.data


def test_an_asset_key_must_be_a_uri_on_an_agent_step():
    from autoagent.errors import SpecError
    from autoagent.spec import validate_data

    spec = _spec()
    spec["steps"][0]["asset"] = "data/raw.csv"
    spec["steps"][3]["asset"] = "file://group"
    with pytest.raises(SpecError) as raised:
        validate_data(spec)
    lines = str(raised.value).splitlines()
    assert any("step 'raw', field 'asset': Key must be a valid URI" in line for line in lines)
    assert any("step 'enrich', field 'asset': only a step with an agent" in line for line in lines)
