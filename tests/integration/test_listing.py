"""`autoagent list` as a user types it, on a server holding missions in every state: each
filter (state, mission, tag, what a run waits for, start time, limit) finds exactly the runs it
should, as a table and as JSON."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from uuid import UUID

import pytest
import yaml
from prefect import get_client
from prefect.states import Cancelled, Crashed, Running

from autoagent.api import runs
from autoagent.spec import validate_data
from tests.e2e.cli import autoagent, cli_env, kill_group, start_autoagent, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _spec(name: str, step: dict) -> dict:
    return {"name": name, "params": {"topic": "x"}, "steps": [{"id": "only", **step}]}


WAITS = {
    "approval": {"approval": {"title": "Go?"}},
    "event": {"event": {"key": "paid"}},
    "timer": {"wait": {"seconds": 3600}},
}


@pytest.fixture(scope="module")
def every_state(prefect_server, tmp_path_factory):
    """One run in each state, all tagged with this module's tag: ended ones driven here, waiting
    ones by `autoagent run` in the background (each waits for its kind), a crashed, a cancelled
    and a pending one set on the server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    tag, where = uuid.uuid4().hex[:8], tmp_path_factory.mktemp("listing")
    env = cli_env(prefect_server.env())
    ids: dict[str, str] = {}
    processes = []
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.url}):
        ended = {
            "done": ({"agent": "echo", "input": {"value": 1}}, ["nightly"]),
            "broke": ({"agent": "shell", "input": {"command": "exit 3"}}, []),
        }
        for kind, (step, more) in ended.items():
            spec = validate_data(_spec(f"list-{tag}-{kind}", step))
            flow_run = runs.create(spec, {"topic": f"{kind} topic"}, tags=[tag, *more])
            runs.execute(flow_run, spec=spec)
            ids[kind] = str(flow_run.id)
        between = datetime.now(UTC)
        time.sleep(1)
        with get_client(sync_client=True) as client:
            for kind, state in (("crashed", Crashed()), ("cancelled", Cancelled()), ("new", None)):
                step = {"agent": "echo", "input": {"value": 1}}
                spec = validate_data(_spec(f"list-{tag}-{kind}", step))
                flow_run = runs.create(spec, {}, tags=[tag])
                if state is not None:
                    client.set_flow_run_state(flow_run.id, Running(), force=True)
                    client.set_flow_run_state(flow_run.id, state, force=True)
                ids[kind] = str(flow_run.id)
    try:
        for kind, step in WAITS.items():
            path = where / f"{kind}.yaml"
            path.write_text(yaml.safe_dump(_spec(f"list-{tag}-{kind}", step)))
            log = where / f"{kind}.out"
            processes.append(start_autoagent("run", str(path), "--tag", tag, env=env, log=log))
        for kind in WAITS:
            wait_for(
                lambda kind=kind: _listed(env, "--tag", tag, "--waiting", kind),
                timeout=90,
                what=f"a run waiting for its {kind}",
            )
            ids[kind] = _listed(env, "--tag", tag, "--waiting", kind)[0]["id"]
        yield tag, env, ids, between
    finally:
        for process in processes:
            kill_group(process)


def _listed(env: dict, *options: str) -> list[dict]:
    shown = autoagent("list", "--json", *options, env=env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return json.loads(shown.stdout)


def _ids(env: dict, tag: str, *options: str) -> set[str]:
    return {run["id"] for run in _listed(env, "--tag", tag, *options)}


def test_without_a_filter_every_run_is_listed_newest_first(every_state) -> None:
    tag, env, ids, _ = every_state
    assert _ids(env, tag) == set(ids.values())
    newest = _listed(env, "--tag", tag, "--limit", "2")
    assert len(newest) == 2
    assert [r["id"] for r in newest] == [r["id"] for r in _listed(env, "--tag", tag)][:2]


@pytest.mark.parametrize(
    ("states", "kinds"),
    [
        (["completed"], {"done"}),
        (["failed"], {"broke"}),
        (["crashed"], {"crashed"}),
        (["cancelled"], {"cancelled"}),
        (["pending"], {"new"}),
        (["failed", "crashed"], {"broke", "crashed"}),
    ],
)
def test_the_state_filter(every_state, states, kinds) -> None:
    tag, env, ids, _ = every_state
    options = [o for s in states for o in ("--state", s)]
    assert _ids(env, tag, *options) == {ids[k] for k in kinds}


def test_waiting_runs_by_state_and_by_what_they_wait_for(every_state) -> None:
    tag, env, ids, _ = every_state
    paused = _ids(env, tag, "--state", "waiting")  # an approval pauses its run; a local run
    assert ids["approval"] in paused and ids["done"] not in paused  # waits for the rest in it
    for kind in WAITS:
        (found,) = _listed(env, "--tag", tag, "--waiting", kind)
        assert found["id"] == ids[kind]
        assert [w["kind"] for w in found["waiting"]] == [kind]
        assert found["waiting"][0]["path"] == "only"


def test_the_mission_and_tag_filters(every_state) -> None:
    tag, env, ids, _ = every_state
    assert _ids(env, tag, "--mission", f"list-{tag}-broke") == {ids["broke"]}
    assert _ids(env, tag, "--tag", "nightly") == {ids["done"]}
    assert _listed(env, "--mission", f"list-{tag}-nobody") == []


def test_started_before_and_since(every_state) -> None:
    tag, env, ids, between = every_state
    assert _ids(env, tag, "--before", between.isoformat()) == {ids["done"], ids["broke"]}
    since = _ids(env, tag, "--since", between.isoformat())
    assert since >= {ids["crashed"], ids["cancelled"], ids["approval"], ids["event"]}
    assert not since & {ids["done"], ids["broke"], ids["new"]}  # never started: not listed
    assert _ids(env, tag, "--since", "1h") >= {ids["done"], ids["approval"]}


def test_json_carries_the_params_summary_and_the_users_tags(every_state, prefect_api) -> None:
    tag, env, ids, _ = every_state
    (done,) = _listed(env, "--tag", tag, "--state", "completed")
    assert done["mission"] == f"list-{tag}-done" and done["state"] == "Completed"
    assert done["params"] == {"topic": "done topic"}
    assert sorted(done["tags"]) == sorted(["nightly", tag])
    assert done["waiting"] == [] and done["started"] and done["ended"]
    with get_client(sync_client=True) as client:  # the UI's filters find the same tags
        tags = client.read_flow_run(UUID(ids["done"])).tags
    assert {"autoagent", f"mission:list-{tag}-done", "param:topic=done topic", tag} <= set(tags)


def test_the_table_names_each_run_and_what_it_waits_for(every_state) -> None:
    tag, env, ids, _ = every_state
    shown = autoagent("list", "--tag", tag, env={**env, "COLUMNS": "250"})
    assert shown.returncode == 0, shown.stderr
    for kind in ("done", "approval"):
        assert ids[kind] in shown.stdout
    assert "approval only" in shown.stdout and "nightly" in shown.stdout
    nothing = autoagent("list", "--tag", tag, "--mission", "nobody", env=env)
    assert nothing.returncode == 0 and "no mission run matches" in nothing.stdout
