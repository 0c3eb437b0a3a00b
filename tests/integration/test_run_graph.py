"""The run as the Prefect UI draws it: its graph's arrows are exactly the spec's needs, a step
that did not run shows why, the fan-out parent has a node, and each mission is found by name."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from prefect import get_client

from tests.missions import run_mission

pytestmark = pytest.mark.integration

SPEC_STEPS: list[dict[str, Any]] = [
    {"id": "a", "agent": "echo", "input": {"value": ""}},
    {"id": "b", "agent": "echo", "needs": ["a"], "input": {"value": "{{ steps.a.output }}"}},
    {"id": "c", "agent": "echo", "needs": ["a"], "when": "params.flag", "input": {"value": 2}},
    {"id": "d", "agent": "echo", "needs": ["b", "c"], "input": {"value": ""}},
    {
        "id": "g",
        "needs": ["d"],
        "steps": [
            {"id": "x", "agent": "echo", "input": {"value": ""}},
            {"id": "y", "agent": "echo", "needs": ["x"], "input": {"value": ""}},
        ],
    },
    {
        "id": "fan",
        "agent": "echo",
        "needs": ["a"],
        "for_each": "{{ ['', ''] }}",
        "input": {"value": "{{ item }}"},
    },
    {"id": "e", "agent": "echo", "needs": ["g", "fan"], "input": {"value": ""}},
    {"id": "bad", "agent": "fail", "needs": ["a"], "input": {"message": "on purpose"}},
    {"id": "after", "agent": "echo", "needs": ["bad"], "input": {"value": ""}},
]


def _graph(api: str, flow_run_id: Any) -> dict[str, dict[str, Any]]:
    """The run's graph (Prefect's graph-v2, as the UI reads it): each node by its label, with
    its state and the labels of its parents."""
    found = httpx.get(f"{api}/flow_runs/{flow_run_id}/graph-v2", timeout=30).json()
    nodes = {node_id: node for node_id, node in found["nodes"]}
    return {
        node["label"]: {
            "id": node_id,
            "state": node["state_type"],
            "parents": {nodes[p["id"]]["label"] for p in node["parents"]},
        }
        for node_id, node in nodes.items()
    }


@pytest.fixture(scope="module")
def ran(prefect_server):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    name = f"graph-{uuid.uuid4().hex[:6]}"
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.url}):
        run = run_mission({"name": name, "params": {"flag": False}, "steps": SPEC_STEPS})
    return run, name


def test_the_graph_draws_exactly_the_needs(ran, prefect_server):
    run, _ = ran
    assert run.state.is_failed()  # `bad` fails on purpose
    graph = _graph(prefect_server.url, run.id)
    group = f"group / {run.flow_run.name}/g"
    edges = {(parent, label) for label, node in graph.items() for parent in node["parents"]}
    assert edges == {
        ("a", "b"),
        ("a", "c"),
        ("b", "d"),
        ("c", "d"),
        ("d", group),
        ("a", "fan[0]"),
        ("a", "fan[1]"),
        ("fan[0]", "fan"),
        ("fan[1]", "fan"),
        (group, "e"),
        ("fan", "e"),
        ("a", "bad"),
        ("bad", "after"),
    }
    inner = _graph(prefect_server.url, graph[group]["id"])
    assert {(p, label) for label, n in inner.items() for p in n["parents"]} == {("g/x", "g/y")}


def test_steps_that_did_not_run_say_why_and_the_fan_out_parent_has_a_node(
    ran, prefect_server, prefect_api
):
    run, _ = ran
    graph = _graph(prefect_server.url, run.id)
    assert graph["fan"]["state"] == "COMPLETED"
    assert graph["c"]["state"] == graph["after"]["state"] == "CANCELLED"
    with get_client(sync_client=True) as client:
        skipped = client.read_task_run(graph["c"]["id"]).state
        blocked = client.read_task_run(graph["after"]["id"]).state
    assert (skipped.name, skipped.message) == (
        "Skipped",
        "skipped: its `when` (params.flag) was false",
    )
    assert (blocked.name, blocked.message) == ("NotRun", "not run: bad failed")
    assert run.step("c").state == "skipped" and run.step("after").state == "not run"
    assert run.step("after").reason == "not run: bad failed"


def test_each_mission_is_its_own_flow_and_its_groups_carry_its_name_and_tags(ran, prefect_api):
    run, name = ran
    with get_client(sync_client=True) as client:
        flow = client.read_flow(run.flow_run.flow_id)
        root = client.read_flow_run(run.flow_run.id)
        groups = [r for r in run.status.walk() if r.path == "g"]
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[root.id])
            )
        )
    assert flow.name == name
    assert groups and [c.name for c in children] == [f"{root.name}/g"]
    assert {"autoagent", f"mission:{name}"} <= set(children[0].tags)
    assert {"autoagent", f"mission:{name}"} <= set(root.tags)
