"""The status tree from server records, including records a killed process never finished.

The records are Prefect's own objects as the REST API serializes them, read back as
autoagent.server.records models, as ``autoagent status`` reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.states import Cancelled, Completed, Failed, Running

from autoagent.server import status, status_nodes
from autoagent.server.records import FlowRunRecord, TaskRunRecord

SPEC = {
    "name": "m",
    "steps": [
        {"id": "a", "agent": "echo", "input": {"value": 1}},
        {"id": "b", "agent": "echo", "needs": ["a"], "input": {"value": 1}},
        {"id": "c", "agent": "echo", "needs": ["b"], "input": {"value": 1}},
    ],
}


def _root(state) -> FlowRunRecord:
    run = FlowRun(id=uuid4(), name="m-1", flow_id=uuid4(), parameters={"spec": SPEC}, state=state)
    return FlowRunRecord.model_validate(run.model_dump(mode="json"))


def _task(name: str, state, root: FlowRunRecord) -> TaskRunRecord:
    run = TaskRun(
        id=uuid4(),
        name=name,
        flow_run_id=root.id,
        task_key="step",
        dynamic_key=name,
        state=state,
        created=datetime.now(UTC),
        run_count=1,
    )
    return TaskRunRecord.model_validate(run.model_dump(mode="json"))


def test_completed_mission_shows_steps_with_lost_records_as_completed():
    root = _root(Completed())
    tree = status.build(root, [root], [_task("a", Completed(), root), _task("b", Running(), root)])
    assert [s.state for s in tree.steps] == ["completed", "completed", "completed"]


def test_failed_mission_shows_what_did_not_run():
    root = _root(Failed())
    tree = status.build(
        root, [root], [_task("a", Completed(), root), _task("b", Failed(message="boom"), root)]
    )
    assert [s.state for s in tree.steps] == ["completed", "failed", "not run"]
    assert tree.steps[1].error == "boom"


def test_steps_that_did_not_run_show_why():
    root = _root(Failed())
    skipped = Cancelled(name="Skipped", message="skipped: its `when` (x) was false")
    blocked = Cancelled(name="NotRun", message="not run: b failed")
    tree = status.build(
        root,
        [root],
        [
            _task("a", skipped, root),
            _task("b", Failed(message="boom"), root),
            _task("c", blocked, root),
        ],
    )
    assert [(s.state, s.attempts, s.reason) for s in tree.steps] == [
        ("skipped", 0, "skipped: its `when` (x) was false"),
        ("failed", 1, None),
        ("not run", 0, "not run: b failed"),
    ]


def test_a_group_run_is_found_under_its_mission_runs_name():
    spec = {"name": "m", "steps": [{"id": "g", "steps": [SPEC["steps"][0]]}]}
    run = FlowRun(
        id=uuid4(), name="m-1", flow_id=uuid4(), parameters={"spec": spec}, state=Completed()
    )
    root = FlowRunRecord.model_validate(run.model_dump(mode="json"))
    child = FlowRun(id=uuid4(), name="m-1/g", flow_id=uuid4(), state=Completed())
    group = FlowRunRecord.model_validate(child.model_dump(mode="json"))
    tree = status.build(root, [root, group], [_task("g/a", Completed(), root)])
    assert [(s.path, s.state, s.attempts) for s in tree.walk()] == [
        ("g", "completed", 1),
        ("g/a", "completed", 1),
    ]


def test_waiting_step_shows_what_it_waits_for_and_how_to_answer():
    from prefect.states import Paused

    from autoagent.cli.render import answer_lines, waits_for

    root = _root(Paused())
    marker = {
        "path": "b",
        "kind": "approval",
        "title": "Go?",
        "schema": {
            "properties": {
                "decision": {"enum": ["Approve", "Reject"]},
                "comment": {"type": "string"},
                "n": {"type": "integer"},
                "zone": {"enum": ["eu", "us"]},
            },
            "required": ["decision"],
            "then": {"required": ["n"]},
        },
    }
    tree = status.build(
        root, [root], [_task("a", Completed(), root), _task("b", Running(), root)], [marker]
    )
    assert [s.state for s in tree.steps] == ["completed", "waiting", "pending"]
    assert waits_for(tree.steps[1].waits_for) == (
        "waits for approval: 'Go?'; form: decision: Approve|Reject, comment: string (optional),"
        " n: integer (required to approve), zone: eu|us (optional)"
    )
    assert answer_lines(tree) == [
        f"b: autoagent approve {root.id} --step b --field n=<integer> [--field zone=<eu|us>]"
        " [--comment TEXT] (or --reject, which needs no fields)"
    ]


def test_markers_of_an_ended_run_are_ignored():
    root = _root(Failed())
    marker = {"path": "b", "kind": "event", "key": "k"}
    tree = status.build(root, [root], [_task("a", Completed(), root)], [marker])
    assert tree.steps[1].state == "not run"


class _Records:
    """What a server holds: the reader's reads over fixed records."""

    def __init__(self, root: FlowRunRecord, task_runs: list[TaskRunRecord]):
        self.root, self.runs = root, task_runs

    def root_run(self, run_id: str) -> FlowRunRecord:
        return self.root

    def descendants(self, root_id) -> list[FlowRunRecord]:
        return [self.root]

    def task_runs(self, flow_run_ids) -> list[TaskRunRecord]:
        return self.runs

    def waiting(self, root_id) -> list[dict]:
        return []

    def run_input(self, run_id, key) -> None:
        return None


def test_a_task_run_known_to_its_process_stands_in_until_the_server_has_it_final():
    """The report does not wait for the server's recorder: what the process saw end shows."""
    root = _root(Running())
    recorded_a = _task("a", Completed(), root)
    pending_b = _task("b", Running(), root)
    ended_b = pending_b.model_copy(update={"state": _task("b", Failed(message="x"), root).state})
    stale_a = recorded_a.model_copy(update={"state": pending_b.state})
    known_c = _task("c", Completed(), root)
    reader = _Records(root, [recorded_a, pending_b])
    tree = status.read(reader, str(root.id), known=[stale_a, ended_b, known_c]).status
    assert [s.state for s in tree.steps] == ["completed", "failed", "completed"]


def test_a_steps_duration_runs_from_its_first_start_to_its_end_retries_included():
    started = datetime(2026, 1, 1, tzinfo=UTC)
    assert status_nodes.run_seconds(started, started + timedelta(seconds=3), timedelta(1)) == 3.0
    assert status_nodes.run_seconds(started, None, timedelta(seconds=2)) == 2.0
    assert status_nodes.run_seconds(None, None, timedelta(0)) is None


FAN_SPEC = {
    "name": "m",
    "steps": [{"id": "fan", "agent": "echo", "for_each": "{{ params.xs }}", "input": {"value": 1}}],
}


def _fan_root(state) -> FlowRunRecord:
    run = FlowRun(
        id=uuid4(), name="m-1", flow_id=uuid4(), parameters={"spec": FAN_SPEC}, state=state
    )
    return FlowRunRecord.model_validate(run.model_dump(mode="json"))


def _rows(start: int, stop: int, overrides: dict | None = None) -> list[dict]:
    return [
        {"item": f"fan[{i}]", "state": "completed", "attempts": 1, "seconds": 0.5, "cached": False}
        | (overrides or {}).get(i, {})
        for i in range(start, stop)
    ]


def test_a_batched_fan_out_shows_each_item_from_its_batches_tables():
    root = _fan_root(Failed())
    first = _task("fan[0:3]", Completed(), root)
    failed = _task("fan[3:6]", Failed(message="1 of 3 items failed"), root)
    crashed = _task("fan[6:8]", Running(), root)  # no table: its process died under it
    tables = {
        first.id: _rows(0, 3, {1: {"attempts": 3}}),
        failed.id: _rows(3, 6, {4: {"state": "failed", "error": "boom"}}),
    }
    tree = status.build(root, [root], [first, failed, crashed], tables=tables)
    fan = tree.steps[0]
    assert [c.path for c in fan.children] == [f"fan[{i}]" for i in range(8)]
    assert [c.attempts for c in fan.children[:3]] == [1, 3, 1]
    assert (fan.children[4].state, fan.children[4].error) == ("failed", "boom")
    assert [c.state for c in fan.children[6:]] == ["running", "running"]
    assert (fan.state, fan.error) == ("failed", "boom")


def test_an_item_read_back_on_a_resume_keeps_the_attempts_of_the_run_that_did_it():
    root = _fan_root(Completed())
    before = _task("fan[0:2]", Failed(message="1 of 2 items failed"), root)
    after = _task("fan[0:2]", Completed(), root)
    tables = {
        before.id: _rows(0, 2, {0: {"attempts": 2, "seconds": 4.0}, 1: {"state": "failed"}}),
        after.id: _rows(0, 2, {0: {"cached": True, "attempts": 0, "seconds": 0.0}}),
    }
    tree = status.build(root, [root], [before, after], tables=tables)
    done, again = tree.steps[0].children
    assert (done.state, done.cached, done.attempts, done.duration) == ("completed", True, 2, 4.0)
    assert (again.state, again.attempts) == ("completed", 1)


def test_a_wide_fan_out_shows_only_the_items_worth_a_look():
    items = [
        status_nodes.StepStatus(f"f[{i}]", f"f[{i}]", "agent", "completed", 1) for i in range(500)
    ]
    items[7].attempts = 2
    items[9].state = "failed"
    shown, hidden = status_nodes.shown_items(items)
    assert [s.path for s in shown] == ["f[7]", "f[9]"] and hidden == 498
    assert status_nodes.shown_items(items[:100]) == (items[:100], 0)
