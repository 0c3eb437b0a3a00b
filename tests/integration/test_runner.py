"""The runner on a real Prefect server on PostgreSQL: parallelism, fan-out, retries, groups."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.missions import run_mission

pytestmark = pytest.mark.integration


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _window(path: Path) -> tuple[float, float]:
    start, end = (float(x) for x in path.read_text().split())
    return start, end


def test_diamond_runs_middle_steps_concurrently(prefect_api, tmp_path):
    stamp = "python3 -c 'import time; print(time.time())'"
    middle = "{stamp} > {f}; sleep 1; {stamp} >> {f}"
    run = run_mission(
        {
            "name": _name("diamond"),
            "steps": [
                {"id": "a", "agent": "echo", "input": {"value": 1}},
                {
                    "id": "b",
                    "agent": "shell",
                    "needs": ["a"],
                    "input": {"command": middle.format(stamp=stamp, f=tmp_path / "b")},
                },
                {
                    "id": "c",
                    "agent": "shell",
                    "needs": ["a"],
                    "input": {"command": middle.format(stamp=stamp, f=tmp_path / "c")},
                },
                {"id": "d", "agent": "echo", "needs": ["b", "c"], "input": {"value": 2}},
            ],
        }
    )
    assert run.state.is_completed(), run.state.message
    b, c = _window(tmp_path / "b"), _window(tmp_path / "c")
    assert b[0] < c[1] and c[0] < b[1], f"b {b} and c {c} did not overlap"
    assert [run.step(p).state for p in "abcd"] == ["completed"] * 4


def test_fan_out_keeps_item_order_and_join_sees_all(prefect_api):
    run = run_mission(
        {
            "name": _name("fanout"),
            "params": {"delays": [0.6, 0.1, 0.3]},
            "steps": [
                {
                    "id": "work",
                    "agent": "shell",
                    "for_each": "{{ params.delays }}",
                    "input": {"command": "sleep {{ item }}; echo {{ item }}"},
                },
                {
                    "id": "join",
                    "agent": "echo",
                    "needs": ["work"],
                    "input": {"value": "{{ steps.work.output | length }}"},
                },
            ],
        }
    )
    assert run.state.is_completed(), run.state.message
    outputs = run.outputs()
    assert [o["stdout"] for o in outputs["work"]] == ["0.6", "0.1", "0.3"]
    assert outputs["join"] == 3
    assert [c.path for c in run.step("work").children] == ["work[0]", "work[1]", "work[2]"]


def test_retries_count_attempts_and_exhaust(prefect_api):
    fast = {"base_seconds": 0.05, "factor": 2, "max_seconds": 0.2}
    run = run_mission(
        {
            "name": _name("retries"),
            "steps": [
                {
                    "id": "recovers",
                    "agent": "fail",
                    "retries": 3,
                    "retry_backoff": fast,
                    "input": {"times": 2},
                },
                {
                    "id": "exhausts",
                    "agent": "fail",
                    "retries": 2,
                    "retry_backoff": fast,
                    "input": {"message": "still broken", "times": 10},
                },
                {
                    "id": "not_selected",
                    "agent": "fail",
                    "retries": 3,
                    "retry_on": ["timeout"],
                    "input": {"times": 10},
                },
                {"id": "after", "agent": "echo", "needs": ["exhausts"], "input": {"value": 1}},
                {"id": "independent", "agent": "echo", "input": {"value": 1}},
            ],
        }
    )
    assert run.state.is_failed()
    assert run.outputs()["recovers"] == {"attempts": 3}
    assert run.step("recovers").attempts == 3
    exhausted = run.step("exhausts")
    assert (exhausted.state, exhausted.attempts) == ("failed", 3)
    assert "still broken" in (exhausted.error or "")
    assert run.step("not_selected").attempts == 1
    assert run.step("after").state == "not run"
    assert run.step("independent").state == "completed"


def test_nested_groups_references_and_skips(prefect_api):
    run = run_mission(
        {
            "name": _name("nested"),
            "params": {"greeting": "hi", "extra": False},
            "steps": [
                {"id": "start", "agent": "echo", "input": {"value": {"n": 2, "tags": ["x"]}}},
                {
                    "id": "outer",
                    "needs": ["start"],
                    "steps": [
                        {
                            "id": "inner",
                            "steps": [
                                {
                                    "id": "deep",
                                    "agent": "echo",
                                    "input": {"value": "{{ steps.start.output.n * 10 }}"},
                                }
                            ],
                        },
                        {
                            "id": "sibling",
                            "agent": "echo",
                            "needs": ["inner"],
                            "input": {"value": "{{ params.greeting }} {{ steps.deep.output }}"},
                        },
                    ],
                },
                {
                    "id": "optional",
                    "agent": "echo",
                    "when": "params.extra",
                    "input": {"value": 1},
                },
                {
                    "id": "final",
                    "agent": "echo",
                    "needs": ["outer", "optional"],
                    "input": {
                        "value": {
                            "deep": "{{ steps.outer.output.inner.deep }}",
                            "sibling": "{{ steps.sibling.output }}",
                            "tag": "{{ steps.start.output.tags[0] }}",
                        }
                    },
                },
            ],
        }
    )
    assert run.state.is_completed(), run.state.message
    assert run.outputs()["final"] == {"deep": 20, "sibling": "hi 20", "tag": "x"}
    assert run.step("outer/inner/deep").state == "completed"
    assert run.step("outer").state == "completed"
    assert run.step("optional").state == "skipped"
    assert run.step("final").state == "completed"


def test_report_artifact_has_the_step_table(prefect_api):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    run = run_mission(
        {"name": _name("report"), "steps": [{"id": "only", "agent": "echo", "input": {"value": 7}}]}
    )
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[run.flow_run.id])
            )
        )
    assert artifacts, "no report artifact"
    table = artifacts[0].data
    assert "| step | state | attempts | duration | output or why |" in table
    assert "| `only` | completed | 1 |" in table


def test_for_each_group_and_child_mission(prefect_api, tmp_path):
    from autoagent.spec import load
    from tests.missions import run_loaded

    (tmp_path / "kid.yaml").write_text(
        "name: kid\nparams: {n: 1}\nsteps:\n"
        "  - {id: k1, agent: echo, input: {value: '{{ params.n * 2 }}'}}\n"
    )
    (tmp_path / "parent.yaml").write_text(
        "\n".join(
            [
                f"name: {_name('parent')}",
                "params: {xs: [a, b]}",
                "steps:",
                "  - id: g",
                "    for_each: '{{ params.xs }}'",
                "    steps:",
                "      - {id: up, agent: echo, input: {value: '{{ item | upper }}'}}",
                "      - {id: two, agent: echo, needs: [up],"
                " input: {value: '{{ steps.up.output }}{{ item }}'}}",
                "  - {id: sub, mission: kid.yaml, needs: [g], params: {n: 21}}",
                "  - {id: end, agent: echo, needs: [sub, g],"
                " input: {value: ['{{ steps.g.output }}', '{{ steps.sub.output.k1 }}']}}",
            ]
        )
    )
    run = run_loaded(load(tmp_path / "parent.yaml"))
    assert run.state.is_completed(), run.state.message
    assert run.outputs()["end"] == [[{"up": "A", "two": "Aa"}, {"up": "B", "two": "Bb"}], 42]
    assert run.step("g[1]/two").state == "completed"
    assert run.step("sub/k1").state == "completed"


def test_steps_after_an_empty_fan_out_and_a_blocked_step(prefect_api):
    run = run_mission(
        {
            "name": _name("empty-fan"),
            "params": {"none": []},
            "steps": [
                {"id": "fan", "agent": "echo", "for_each": "params.none", "input": {"value": 1}},
                {"id": "after_fan", "agent": "echo", "needs": ["fan"], "input": {"value": 2}},
                {"id": "then", "agent": "echo", "needs": ["after_fan"], "input": {"value": 3}},
                {"id": "broken", "agent": "fail", "input": {}},
                {"id": "blocked", "agent": "echo", "needs": ["broken"], "input": {"value": 4}},
                {"id": "blocked_too", "agent": "echo", "needs": ["blocked"], "input": {"value": 5}},
            ],
        }
    )
    assert run.state.is_failed()
    outputs = run.outputs()
    assert outputs["fan"] == [] and outputs["after_fan"] == 2 and outputs["then"] == 3
    assert run.step("blocked").state == "not run"
    assert run.step("blocked_too").state == "not run"


def test_a_fan_out_wider_than_the_limit_fails_before_any_item_starts(prefect_api, monkeypatch):
    from autoagent.settings import get_settings

    monkeypatch.setenv("AUTOAGENT_MAX_FOR_EACH", "10")
    get_settings.cache_clear()
    try:
        run = run_mission(
            {
                "name": _name("wide"),
                "params": {"one": [1]},
                "steps": [
                    # a literal list is checked at validation; this one is known only when rendered
                    {
                        "id": "fan",
                        "agent": "echo",
                        "for_each": "params.one * 11",
                        "input": {"value": 1},
                    },
                    {
                        "id": "narrow",
                        "agent": "echo",
                        "for_each": "params.one * 10",
                        "input": {"value": 1},
                    },
                ],
            }
        )
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert run.state.is_failed()
    fan = run.step("fan")
    assert fan.state == "failed" and fan.children == []
    assert "11 items: at most 10 (limit AUTOAGENT_MAX_FOR_EACH)" in fan.error
    assert run.outputs()["narrow"] == [1] * 10


def test_wait_step_sleeps_until_its_deadline(prefect_api):
    from datetime import UTC, datetime

    began = datetime.now(UTC)
    run = run_mission(
        {
            "name": _name("wait"),
            "params": {"pause": 1.5},
            "steps": [
                {"id": "pause", "wait": {"seconds": "{{ params.pause }}"}},
                {"id": "after", "agent": "echo", "needs": ["pause"], "input": {"value": 1}},
            ],
        }
    )
    assert run.state.is_completed(), run.state.message
    output = run.outputs()["pause"]
    assert datetime.fromisoformat(output["woke_at"]) >= datetime.fromisoformat(output["until"])
    assert run.step("pause").state == "completed"
    # The deadline is fixed before the sleeping task starts, so the step's own duration may be
    # a little shorter than the pause; what counts is that nothing after it started early.
    until = datetime.fromisoformat(output["until"])
    assert (until - began).total_seconds() >= 1.5
    assert run.step("after").started >= until


def _report_of(flow_run_id: uuid.UUID) -> str:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    assert len(artifacts) == 1, f"expected one report, got {len(artifacts)}"
    return artifacts[0].data


def test_report_inside_a_session_is_posted_on_the_sessions_client(prefect_api):
    from autoagent.api import runs
    from autoagent.server.client import session
    from autoagent.spec import validate_data

    spec = validate_data(
        {
            "name": _name("session"),
            "steps": [{"id": "only", "agent": "echo", "input": {"value": 3}}],
        }
    )
    with session():
        flow_run = runs.create(spec, {})
        finished = runs.execute(flow_run, spec=spec)
        # execute joined the report's thread: the session's client is still the one open
    assert finished.ok
    assert "| `only` | completed | 1 |" in _report_of(flow_run.id)


def test_the_flow_validates_only_what_create_did_not(prefect_api, monkeypatch):
    import autoagent.engine.mission
    from autoagent.api import runs
    from autoagent.spec import MissionSpec, validate_data

    calls: list[str] = []
    real = autoagent.engine.mission.validate_data

    def counting(data, **kwargs):
        calls.append(data["name"])
        return real(data, **kwargs)

    data = {
        "name": _name("checked"),
        "steps": [{"id": "a", "agent": "echo", "input": {"value": 1}}],
    }
    spec = validate_data(data)
    monkeypatch.setattr(autoagent.engine.mission, "validate_data", counting)
    assert runs.execute(runs.create(spec, {}), spec=spec).ok
    assert calls == [], "a spec validated by its driver was validated again in the flow"

    # a model built directly has had only its field checks: the flow runs every rule
    unchecked = MissionSpec.model_validate(data)
    assert not unchecked.checked
    assert runs.execute(runs.create(unchecked, {}), spec=unchecked).ok
    assert calls == [data["name"]]

    # a run executed without its spec (a resume, another process, an edited run): validated
    # again, and a rule broken there fails the run instead of running it
    flow_run = runs.create(spec, {})
    broken = {**flow_run.parameters["spec"], "steps": [{"id": "a", "agent": "nope", "input": {}}]}
    flow_run.parameters = {**flow_run.parameters, "spec": broken}
    state = runs.execute(flow_run).state
    assert state.is_failed()
    assert "nope" in (state.message or "") + str(state.result(raise_on_failure=False))
    assert calls == [data["name"]] * 2


def test_a_steps_success_line_is_dropped_and_its_failure_line_kept(prefect_api):
    import time

    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    run = run_mission(
        {
            "name": _name("logs"),
            "steps": [
                {"id": "ok", "agent": "echo", "input": {"value": 1}},
                {"id": "bad", "agent": "fail", "retries": 0, "input": {"message": "on purpose"}},
            ],
        }
    )
    assert run.state.is_failed()
    APILogWorker.drain_all(timeout=10)  # the logs still queued in this process
    deadline = time.monotonic() + 30
    while True:
        with get_client(sync_client=True) as client:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.flow_run.id]))
            )
        finished = [log.message for log in logs if log.message.startswith("Finished in state")]
        if any("Failed" in m for m in finished) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert any("Failed" in m and "on purpose" in m for m in finished), finished
    assert not [m for m in finished if "Completed" in m], finished


def test_a_first_run_writes_step_results_without_looking_them_up(prefect_api):
    """The scheduler reads a step's record itself on a resume; on a first run the engine only
    writes it: a record already under the key (planted here) is overwritten, not served."""
    from autoagent.api import runs
    from autoagent.engine.results import MISSING, Results
    from autoagent.spec import validate_data

    spec = validate_data(
        {"name": _name("nolookup"), "steps": [{"id": "a", "agent": "echo", "input": {"value": 1}}]}
    )
    flow_run = runs.create(spec, {})
    records = Results(str(flow_run.id))
    records.write("a", {"value": 1}, "planted")
    finished = runs.execute(flow_run, spec=spec)
    assert finished.ok
    assert finished.outputs() == {"a": 1}
    assert records.read("a", {"value": 1}) == 1
    assert records.read("a", {"value": 2}) is MISSING


def test_the_report_is_the_status_tree_in_spec_order_with_its_figures(prefect_api):
    """One source of states, attempts and durations: the report shows what `autoagent status`
    shows, in the spec's order with children under their parent."""
    run = run_mission(
        {
            "name": _name("order"),
            "steps": [
                {"id": "z", "agent": "sleep", "input": {"seconds": 0.2}},
                {"id": "a", "agent": "echo", "input": {"value": 1}},
                {
                    "id": "fan",
                    "agent": "echo",
                    "needs": ["a"],
                    "for_each": "{{ [1, 2] }}",
                    "input": {"value": "{{ item }}"},
                },
                {
                    "id": "g",
                    "needs": ["z"],
                    "steps": [{"id": "inner", "agent": "echo", "input": {"value": 2}}],
                },
            ],
        }
    )
    assert run.state.is_completed()
    report = _report_of(run.flow_run.id)
    table = [line for line in report.splitlines() if line.startswith("| ") and "`" in line]
    names = [line.split("|")[1].strip(" ").replace("\u00a0", " ") for line in table]
    assert names == ["`z`", "`a`", "`fan`", "   `fan[0]`", "   `fan[1]`", "`g`", "   `inner`"]
    for line, step in zip(table, run.status.walk(), strict=True):
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        assert cells[1] == step.state and cells[2] == str(step.attempts or "")
        assert cells[3] == (f"{step.duration:.2f}s" if step.duration is not None else "")
    live = run.finished.journal.outcomes  # what `autoagent run` printed as each step ended
    for step in run.status.walk():
        seen = live[step.path].duration
        assert seen is not None and step.duration is not None, step.path
        assert abs(seen - step.duration) < 0.0005, (step.path, seen, step.duration)
