"""Shape rules: the document, the mission header, each step's fields and kind."""

from __future__ import annotations

import pytest
from spec_testlib import find, line_of, problems_of, problems_of_data, text

from autoagent.spec import loads
from autoagent.spec.models import NO_KIND


@pytest.mark.parametrize("spec", ["- 1\n- 2\n", "just a string\n", "", "42\n"])
def test_a_file_that_is_not_a_mapping(spec):
    problem = find(problems_of(spec, lines=bool(spec)), contains="must be a mapping")
    assert problem.mission == "<spec>" and problem.step is None


def test_data_that_is_not_a_mapping():
    problem = find(problems_of_data(["name", "steps"]), contains="must be a mapping")
    assert problem.line is None


def test_empty_steps():
    spec = "name: m\nsteps: []\n"
    problem = find(problems_of(spec), field="steps")
    assert (problem.mission, problem.step, problem.line) == ("m", None, 2)
    assert "at least one step" in problem.message


def test_missing_name_and_steps():
    problems = problems_of("description: nothing else\n")
    assert find(problems, field="name").message == "required field is missing"
    assert find(problems, field="steps").message == "required field is missing"


@pytest.mark.parametrize("name", ["My Mission", "UPPER", "-dash", "a" * 70, "dots.not.ok"])
def test_mission_name_not_a_slug(name):
    spec = f"name: {name!r}\nsteps:\n  - {{id: a, agent: echo, input: {{value: 1}}}}\n"
    problem = find(problems_of(spec), field="name")
    assert problem.mission == name
    assert problem.line == 1
    assert "slug" in problem.message


def test_unknown_field_at_mission_level_has_a_hint():
    spec = "name: m\nparms: {x: 1}\nsteps:\n  - {id: a, agent: echo, input: {value: 1}}\n"
    problem = find(problems_of(spec), field="parms")
    assert problem.message == "unknown field (did you mean 'params'?)"
    assert (problem.mission, problem.step, problem.line) == ("m", None, 2)


def test_unknown_field_at_step_level():
    spec = """
    name: m
    steps:
      - id: a
        agent: echo
        input: {value: 1}
        retires: 3
    """
    problem = find(problems_of(spec), field="retires")
    assert problem.message == "unknown field (did you mean 'retries'?)"
    assert (problem.mission, problem.step) == ("m", "a")
    assert problem.line == line_of(spec, "retires")


def test_unknown_field_in_a_nested_object_of_a_step():
    spec = """
    name: m
    steps:
      - id: a
        agent: echo
        input: {value: 1}
        retry_backoff: {base_seconds: 1, factr: 2}
    """
    problem = find(problems_of(spec), field="retry_backoff.factr")
    assert "did you mean 'factor'" in problem.message
    assert problem.step == "a"


WRONG_TYPES = """
name: types
steps:
  - id: a
    agent: echo
    input: {value: 1}
  - id: b
    agent: echo
    input: {value: 1}
    retries: x
    timeout: -1
    needs: a
    when: 5
    for_each: 3
    concurrency: [1]
"""


@pytest.mark.parametrize(
    ("field", "needle", "message"),
    [
        ("retries", "retries: x", "must be an integer (got 'x')"),
        ("timeout", "timeout: -1", "must be greater than 0 (got -1)"),
        ("needs", "needs: a", "must be a list (got 'a'): write [a]"),
        ("when", "when: 5", "must be a string or a boolean (got 5)"),
        ("for_each", "for_each: 3", "must be a string or a list (got 3)"),
        ("concurrency", "concurrency", "must be a string (got [1])"),
    ],
)
def test_wrong_types(field, needle, message):
    problem = find(problems_of(WRONG_TYPES), step="b", field=field)
    assert problem.message == message
    assert problem.mission == "types"
    assert problem.line == line_of(WRONG_TYPES, needle)


def test_a_step_with_a_bad_field_is_still_checked_for_the_rest():
    spec = """
    name: m
    steps:
      - id: a
        agent: ecko
        input: {value: 1}
        retries: x
        needs: [nope]
    """
    problems = problems_of(spec)
    find(problems, step="a", field="retries")
    find(problems, step="a", field="agent", contains="unknown agent 'ecko'")
    find(problems, step="a", field="needs", contains="unknown step 'nope'")


def test_step_with_two_kinds():
    spec = """
    name: m
    steps:
      - id: both
        agent: echo
        input: {value: 1}
        steps:
          - {id: inner, agent: echo, input: {value: 1}}
    """
    problem = find(problems_of(spec), step="both", contains="exactly one kind")
    assert problem.field == "steps"
    assert "'agent' and 'steps'" in problem.message
    assert problem.line == line_of(spec, "steps:", 2)


def test_step_with_no_kind():
    spec = "name: m\nsteps:\n  - id: nothing\n    needs: []\n"
    problem = find(problems_of(spec), step="nothing")
    assert problem.field == NO_KIND
    assert "exactly one of agent, steps, mission, approval, wait, event" in problem.message
    assert problem.line == 3


def test_step_with_input_but_no_agent():
    spec = "name: m\nsteps:\n  - id: s\n    input: {value: 1}\n"
    problem = find(problems_of(spec), step="s")
    assert problem.field == "agent"
    assert "'input' needs 'agent: <name>'" in problem.message


def test_input_on_a_step_of_another_kind():
    spec = "name: m\nsteps:\n  - id: w\n    wait: {seconds: 1}\n    input: {value: 1}\n"
    problem = find(problems_of(spec), step="w", field="input")
    assert "belongs to 'agent' steps" in problem.message and "'wait'" in problem.message
    assert problem.line == 5


def test_step_that_is_not_a_mapping_and_step_without_id():
    spec = """
    name: m
    steps:
      - just text
      - agent: echo
        input: {value: 1}
      - id: g
        steps:
          - agent: echo
            input: {value: 1}
    """
    problems = problems_of(spec)
    assert find(problems, step="steps[0]").line == 3
    missing = find(problems, step="steps[1]", field="id")
    assert missing.message == "required field is missing"
    assert find(problems, step="g/steps[0]", field="id").line == line_of(spec, "- agent", 2)


@pytest.mark.parametrize("bad_id", ["1abc", "has space", "dot.ted", "a" * 64])
def test_step_id_must_be_a_slug(bad_id):
    spec = f"name: m\nsteps:\n  - {{id: {bad_id!r}, agent: echo, input: {{value: 1}}}}\n"
    problem = find(problems_of(spec), field="id")
    assert problem.step == bad_id
    assert "must start with a letter" in problem.message


def test_retry_on_with_an_unknown_kind():
    spec = """
    name: m
    steps:
      - id: a
        agent: shell
        input: {command: "true"}
        retry_on:
          - timeout
          - exitcode
    """
    problem = find(problems_of(spec), step="a", field="retry_on")
    assert problem.message == "unknown error kind 'exitcode' (did you mean 'exit_code'?)"
    assert problem.line == line_of(spec, "- exitcode")


def test_retry_on_accepts_kinds_declared_by_agents():
    spec = """
    name: m
    steps:
      - {id: a, agent: fail, input: {}, retry_on: [fail, http_status, rejected]}
    """
    assert loads(text(spec)).steps[0].retry_on == ["fail", "http_status", "rejected"]


def test_defaults_wrong_type():
    spec = "name: m\ndefaults: 3\nsteps:\n  - {id: a, agent: echo, input: {value: 1}}\n"
    problem = find(problems_of(spec), field="defaults")
    assert problem.message == "must be a mapping (got 3)"
    assert (problem.mission, problem.step, problem.line) == ("m", None, 2)


def test_defaults_bad_fields_and_retry_on():
    spec = """
    name: m
    defaults:
      retries: -1
      retry_backoff: {jitter: 2}
    steps:
      - {id: a, agent: echo, input: {value: 1}}
    """
    problems = problems_of(spec)
    assert find(problems, field="defaults.retries").message == "must be at least 0 (got -1)"
    jitter = find(problems, field="defaults.retry_backoff.jitter")
    assert jitter.message == "must be at most 1 (got 2)"
    assert jitter.line == line_of(spec, "jitter")


def test_defaults_retry_on_unknown_kind():
    spec = """
    name: m
    defaults:
      retry_on: [timeout, nope]
    steps:
      - {id: a, agent: echo, input: {value: 1}}
    """
    problem = find(problems_of(spec), field="defaults.retry_on")
    assert problem.step is None and "unknown error kind 'nope'" in problem.message
    assert problem.line == line_of(spec, "retry_on")


APPROVAL = """
name: m
steps:
  - id: ask
    approval:
      title: Ship it?
      on_timeout: maybe
      fields:
        approved: {type: bool}
        colour: {type: enum}
        size: {type: huge}
"""


def test_approval_enum_without_choices():
    problem = find(problems_of(APPROVAL), field="approval.fields.colour")
    assert problem.message == "an enum field needs 'choices'"
    assert (problem.mission, problem.step) == ("m", "ask")
    assert problem.line == line_of(APPROVAL, "colour:")


def test_approval_reserved_field_name_is_reported_with_the_other_mistakes():
    problem = find(problems_of(APPROVAL), field="approval.fields.approved")
    assert "'approved' is reserved" in problem.message
    assert problem.step == "ask"
    assert problem.line == line_of(APPROVAL, "approved:")


def test_approval_literals():
    problems = problems_of(APPROVAL)
    on_timeout = find(problems, field="approval.on_timeout")
    assert on_timeout.message == "must be 'approve', 'reject' or 'fail' (got 'maybe')"
    assert find(problems, field="approval.fields.size.type").step == "ask"


def test_approval_without_title():
    spec = "name: m\nsteps:\n  - id: ask\n    approval: {description: why}\n"
    problem = find(problems_of(spec), field="approval.title")
    assert problem.message == "required field is missing"
    assert problem.line == 4


@pytest.mark.parametrize(
    ("wait", "field", "message"),
    [
        ("{seconds: 5, until: '2030-01-01T00:00:00Z'}", "wait", "not both"),
        ("{}", "wait", "give one of 'seconds' or 'until'"),
        ("{seconds: abc}", "wait.seconds", "must be a number of seconds"),
        ("{seconds: -3}", "wait.seconds", "must be 0 or more seconds"),
        ("{until: tomorrow}", "wait.until", "must be an ISO 8601 time"),
    ],
)
def test_wait_fields(wait, field, message):
    spec = f"name: m\nsteps:\n  - id: pause\n    wait: {wait}\n"
    problem = find(problems_of(spec), field=field)
    assert problem.step == "pause" and message in problem.message
    assert problem.line == 4


def test_wait_accepts_numbers_times_and_templates():
    spec = """
    name: m
    params: {delay: 3}
    steps:
      - {id: a, wait: {seconds: 1.5}}
      - {id: b, wait: {seconds: "{{ params.delay }}"}}
      - {id: c, wait: {until: "2030-01-31T09:00:00+00:00"}}
      - {id: d, wait: {seconds: "10"}}
    """
    steps = loads(text(spec)).steps
    assert steps[0].wait.seconds == 1.5
    assert steps[1].wait.seconds == "{{ params.delay }}"
    assert steps[2].wait.until.year == 2030
    assert steps[3].wait.seconds == 10.0


def test_event_needs_a_key():
    spec = "name: m\nsteps:\n  - id: hook\n    event: {timeout: 0}\n"
    problems = problems_of(spec)
    assert find(problems, field="event.key").message == "required field is missing"
    assert find(problems, field="event.timeout").message == "must be greater than 0 (got 0)"


DEFAULTS = """
name: m
steps:
  - id: ask
    approval:
      title: Ship it?
      fields:
        count: {type: int, default: "three"}
        flag: {type: int, default: true}
        region: {type: enum, choices: [eu, us], default: mars}
        ratio: {type: float, default: 1}
        note: {type: str, default: ok}
"""


def test_approval_field_defaults_must_fit_their_type():
    problems = problems_of(DEFAULTS)
    assert find(problems, field="approval.fields.count").message == (
        "default 'three' is not a valid int"
    )
    assert find(problems, field="approval.fields.flag").message == "default True is not a valid int"
    assert find(problems, field="approval.fields.region").line == line_of(DEFAULTS, "region:")
    assert {p.field for p in problems} == {
        "approval.fields.count",
        "approval.fields.flag",
        "approval.fields.region",
    }


LIMITS = """
name: m
concurrency: {llm: 2, zero: 0}
steps:
  - id: ask
    agent: echo
    input: {value: 1}
    concurrency: lmm
"""


def test_concurrency_limits_are_declared_and_positive():
    problems = problems_of(LIMITS)
    assert find(problems, field="concurrency.zero").message.startswith("must be")
    valid = LIMITS.replace(", zero: 0", "")
    unknown = find(problems_of(valid), field="concurrency")
    assert unknown.step == "ask" and "unknown concurrency limit 'lmm'" in unknown.message
    assert "did you mean 'llm'?" in unknown.message
    assert unknown.line == line_of(valid, "concurrency: lmm")


def test_concurrency_limits_may_come_from_settings(monkeypatch):
    from autoagent.settings import get_settings

    monkeypatch.setenv("AUTOAGENT_CONCURRENCY_LIMITS", '{"lmm": 3}')
    get_settings.cache_clear()
    try:
        spec = loads(text(LIMITS.replace(", zero: 0", "")))
        assert spec.steps[0].concurrency == "lmm"
    finally:
        get_settings.cache_clear()


RUNS_ON = """
name: pools
steps:
  - id: work
    agent: echo
    input: {value: 1}
    runs_on: gpu-pool
  - id: grouped
    runs_on: gpu-pool
    steps:
      - {id: inner, agent: echo, input: {value: 2}}
  - id: gate
    runs_on: gpu-pool
    approval: {title: "Go?"}
"""


def test_only_agent_steps_run_on_a_work_pool():
    problems = [p for p in problems_of(RUNS_ON) if p.field == "runs_on"]
    assert sorted(p.step for p in problems) == ["gate", "grouped"]
    assert "only a step with an agent runs on a work pool" in problems[0].message


def test_for_each_batch_belongs_to_a_for_each_step_with_an_agent():
    spec = """
    name: m
    steps:
      - id: plain
        agent: echo
        input: {value: 1}
        for_each_batch: 10
      - id: fine
        agent: echo
        for_each: [1, 2]
        input: {value: 1}
        for_each_batch: 10
      - id: zero
        agent: echo
        for_each: [1, 2]
        input: {value: 1}
        for_each_batch: 0
    """
    problems = problems_of(text(spec))
    found = find(problems, step="plain", field="for_each_batch")
    assert found.message == "only a for_each step with an agent runs its items in batches"
    assert not [p for p in problems if p.step == "fine"]
    assert find(problems, step="zero", field="for_each_batch")
