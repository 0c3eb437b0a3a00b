"""Missions written as Python code (autoagent.code) on a real Prefect server: steps are durable
by path, a re-run of the same flow run runs no completed step again, compensations run newest
first and at most once, sub-missions nest, and a mission in code and the same mission as a spec
give the same status tree."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect.flow_engine import run_flow

from autoagent import approval, mission, run_spec, step, sub_mission, wait
from autoagent.errors import AutoAgentError
from tests.e2e.cli import lines_in
from tests.missions import read_status

pytestmark = [pytest.mark.integration]


def _mark(folder: Path, name: str) -> None:
    with (folder / name).open("a") as out:
        out.write("x\n")


def _run_again(flow: Any, run_id: str) -> Any:
    """The same flow run once more (a retry or resume on the same id)."""
    from autoagent.server.client import read_run

    flow_run = read_run(run_id)
    return run_flow(flow, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")


def _started(flow: Any, **params: Any) -> tuple[str, Any]:
    state = flow(**params, return_state=True)
    return str(state.state_details.flow_run_id), state


def test_a_rerun_of_the_same_flow_run_runs_no_completed_step_again(prefect_api, tmp_path):
    folder = str(tmp_path)

    @step
    def fetch(where: str, name: str) -> str:
        _mark(Path(where), name)
        return name.upper()

    @step(compensate=lambda result: _mark(tmp_path, f"undo-{result}"))
    def reserve(where: str, name: str) -> str:
        _mark(Path(where), name)
        return name

    @step
    def ship(where: str) -> str:
        _mark(Path(where), "ship")
        if lines_in(Path(where), "ship") == 1:
            raise RuntimeError("the truck is late")
        return "shipped"

    @mission(name=f"durable-{uuid.uuid4().hex[:6]}")
    def durable(where: str) -> dict[str, str]:
        a = fetch(where, "a")
        b = fetch.named("fetch-b")(where, "b")
        first, second = reserve.named("r1").submit(where, "r1"), reserve.named("r2")(where, "r2")
        return {"a": a, "b": b, "r": first.result() + second, "ship": ship(where)}

    run_id, state = _started(durable, where=folder)
    assert state.is_failed()
    assert [lines_in(tmp_path, n) for n in ("a", "b", "r1", "r2", "ship")] == [1, 1, 1, 1, 1]
    # the mission failed: its completed steps were compensated, newest first, once
    assert lines_in(tmp_path, "undo-r1") == 1 and lines_in(tmp_path, "undo-r2") == 1

    again = _run_again(durable, run_id)
    assert again.is_completed(), again.message
    assert again.result() == {"a": "A", "b": "B", "r": "r1r2", "ship": "shipped"}
    assert [lines_in(tmp_path, n) for n in ("a", "b", "r1", "r2", "ship")] == [1, 1, 1, 1, 2]
    assert lines_in(tmp_path, "undo-r1") == 1  # never twice
    tree = read_status(run_id)  # r1 and r2 ran in parallel: their order is the order they started
    assert sorted((s.path, s.state) for s in tree.walk()) == [
        ("fetch", "completed"),
        ("fetch-b", "completed"),
        ("r1", "completed"),
        ("r2", "completed"),
        ("ship", "completed"),
    ]


def test_agent_steps_sub_missions_and_waits(prefect_api, tmp_path):
    @mission(name="pack")
    def pack(label: str) -> str:
        return step("zip", agent="shell", input={"command": f"echo {label}"})["stdout"]

    @mission(name=f"nested-{uuid.uuid4().hex[:6]}")
    def nested() -> dict[str, Any]:
        seven = step("seven", agent="shell", input={"command": "echo 7"})["stdout"]
        packed = sub_mission(pack, {"label": f"box-{seven}"})
        spec = {
            "name": "child-spec",
            "params": {"n": 1},
            "steps": [{"id": "double", "agent": "echo", "input": {"value": "{{ params.n * 2 }}"}}],
        }
        child = sub_mission(spec, {"n": int(seven)})
        answer = approval("Ship?", step="gate", auto_approve=True)
        wait(0.2, step="breath")
        return {"packed": packed, "child": child, "approved": answer["approved"]}

    run_id, state = _started(nested)
    assert state.is_completed(), state.message
    assert state.result() == {"packed": "box-7", "child": {"double": 14}, "approved": True}
    paths = [s.path for s in read_status(run_id).walk()]
    for expected in ("seven", "pack", "pack/zip", "child-spec", "child-spec/double", "gate"):
        assert expected in paths, paths


def test_an_agent_step_is_validated_like_a_spec_step(prefect_api):
    @mission(name=f"bad-{uuid.uuid4().hex[:6]}")
    def bad() -> None:
        step("oops", agent="shell", input={"comand": "echo typo"})

    state = bad(return_state=True)
    assert state.is_failed()
    assert "step 'oops', field 'input.comand'" in (state.message or "")


def test_steps_outside_a_mission_are_refused():
    @step
    def alone() -> int:
        return 1

    with pytest.raises(AutoAgentError, match="must run inside a @mission"):
        alone()


def test_run_spec_from_plain_python(prefect_api, tmp_path):
    done = run_spec(
        {"name": "from-code", "steps": [{"id": "hi", "agent": "echo", "input": {"value": 5}}]}
    )
    assert done.ok and done.outputs() == {"hi": 5}
    assert read_status(done.run_id).find("hi").state == "completed"


EQUIVALENT_SPEC = {
    "name": "equivalent",
    "steps": [
        {"id": "fetch", "agent": "shell", "input": {"command": "echo 7"}},
        {
            "id": "left",
            "agent": "echo",
            "needs": ["fetch"],
            "input": {"value": "{{ steps.fetch.output.stdout }}"},
        },
        {"id": "right", "agent": "echo", "needs": ["left"], "input": {"value": "r"}},
        {
            "id": "pack",
            "needs": ["right"],
            "steps": [{"id": "zip", "agent": "shell", "input": {"command": "echo zipped"}}],
        },
        {
            "id": "flaky",
            "agent": "shell",
            "needs": ["pack"],
            "retries": 1,
            "retry_backoff": {"base_seconds": 0.1},
            "input": {"command": "FLAKY"},
        },
    ],
}


def _flaky(folder: Path) -> str:
    marker = folder / "flaky"
    return f"test -f {marker} || {{ touch {marker}; exit 3; }}"


def test_a_mission_in_code_and_as_a_spec_give_the_same_status_tree(prefect_api, tmp_path):
    import copy

    from tests.missions import run_mission

    (tmp_path / "spec").mkdir()
    (tmp_path / "code").mkdir()
    spec = copy.deepcopy(EQUIVALENT_SPEC)
    spec["steps"][4]["input"]["command"] = _flaky(tmp_path / "spec")
    as_spec = run_mission(spec)

    @mission(name="pack")
    def pack() -> dict[str, Any]:
        return {"zip": step("zip", agent="shell", input={"command": "echo zipped"})}

    @mission(name="equivalent")
    def equivalent() -> None:
        seven = step("fetch", agent="shell", input={"command": "echo 7"})["stdout"]
        step("left", agent="echo", input={"value": seven})
        step("right", agent="echo", input={"value": "r"})
        sub_mission(pack)
        flaky = {"command": _flaky(tmp_path / "code")}
        step("flaky", agent="shell", input=flaky, retries=1, retry_backoff={"base_seconds": 0.1})

    run_id, state = _started(equivalent)
    assert state.is_completed(), state.message

    def tree(status: Any) -> list[tuple[str, str, int]]:
        return [(s.path, s.state, s.attempts) for s in status.walk()]

    assert tree(read_status(run_id)) == tree(as_spec.status)
    assert ("flaky", "completed", 2) in tree(as_spec.status)


def test_the_release_example_runs(prefect_api):
    from flows.release import release

    run_id, state = _started(release, version="2.1.0", auto_approve=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert result["slot"] == "prod-2.1.0" and result["approved"] is True
    assert result["notes"].startswith("# Release 2.1.0")
    paths = [s.path for s in read_status(run_id).walk()]
    for expected in ("build-api", "build-ui", "reserve-slot", "approve", "cool-down"):
        assert expected in paths, paths
    assert "release-notes/notes" in paths, paths


def test_an_event_in_a_sub_mission_waits_on_the_root_run(prefect_api):
    import contextvars
    import threading

    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    from autoagent import event, signal
    from autoagent.server import inputs
    from tests.e2e.cli import wait_for

    @mission(name="inner")
    def inner() -> Any:
        return event("go", step="gate")

    name = f"signalled-{uuid.uuid4().hex[:6]}"

    @mission(name=name)
    def outer() -> Any:
        return sub_mission(inner)

    ended: list[Any] = []
    context = contextvars.copy_context()  # the test's API settings live in a context variable
    thread = threading.Thread(
        target=context.run, args=(lambda: ended.append(outer(return_state=True)),)
    )
    thread.start()

    def root_waiting() -> str | None:
        with get_client(sync_client=True) as client:
            found = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))
        for run in found:
            if any(m["path"] == "inner/gate" for m in inputs.waiting(run.id)):
                return str(run.id)
        return None

    wait_for(lambda: root_waiting() is not None, timeout=60, what="the event marker on the root")
    signal(root_waiting() or "", "go", {"n": 1})
    thread.join(60)
    assert ended and ended[0].is_completed(), ended
    assert ended[0].result() == {"n": 1}


def test_a_code_step_holds_a_slot_of_its_missions_concurrency_limit(prefect_api, tmp_path):
    import time

    @step(concurrency="pair")
    def held(n: int) -> tuple[float, float]:
        started = time.time()
        time.sleep(0.6)
        return started, time.time()

    @mission(name=f"limited-{uuid.uuid4().hex[:6]}", concurrency={"pair": 2})
    def limited() -> list[tuple[float, float]]:
        futures = [held.named(f"held-{n}").submit(n) for n in range(5)]
        return [f.result() for f in futures]

    _, state = _started(limited)
    assert state.is_completed(), state.message
    windows = state.result()
    most = max(sum(1 for s, e in windows if s <= t < e) for t, _ in windows)
    assert most <= 2, windows  # never more than 2 holders at once
    assert most == 2  # and the limit was used

    @step(concurrency="undeclared")
    def stray() -> None:
        return None

    @mission(name=f"stray-{uuid.uuid4().hex[:6]}")
    def strays() -> None:
        stray()

    failed = strays(return_state=True)
    assert failed.is_failed()
    assert "unknown concurrency limit 'undeclared'" in (failed.message or "")


def test_a_failed_mission_compensates_the_steps_of_its_spec_sub_missions(prefect_api, tmp_path):
    """One compensation engine: a spec run inside a code mission hands its completed steps'
    compensations to the mission, which runs them, with its own, newest first, once."""
    log = tmp_path / "log"
    child = {
        "name": "booking",
        "steps": [
            {
                "id": "book",
                "agent": "shell",
                "input": {"command": f"echo book >> {log}"},
                "compensate": {"agent": "shell", "input": {"command": f"echo unbook >> {log}"}},
            }
        ],
    }

    @step(compensate=lambda _: _mark(tmp_path, "unpay"))
    def pay() -> str:
        _mark(tmp_path, "pay")
        return "paid"

    @mission(name=f"trip-{uuid.uuid4().hex[:6]}")
    def trip() -> None:
        pay()
        run_spec(child)
        raise RuntimeError("the flight is cancelled")

    run_id, state = _started(trip)
    assert state.is_failed()
    assert log.read_text().split() == ["book", "unbook"]
    assert lines_in(tmp_path, "unpay") == 1
    again = _run_again(trip, run_id)  # fails again: nothing is compensated twice
    assert again.is_failed()
    assert log.read_text().split() == ["book", "unbook"]
    assert lines_in(tmp_path, "unpay") == 1
