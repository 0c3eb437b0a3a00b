"""Whole specs: a valid one round-trips, JSON and YAML agree, every problem comes at once."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from spec_testlib import assert_one_line, line_of, problems_of, text

from autoagent.errors import SpecError
from autoagent.spec import MissionSpec, Step, load, loads, validate_data

VALID = """
name: full-tour
description: every kind of step
params:
  names: [a, b]
  flag: true
concurrency: {small: 2}
defaults:
  retries: 2
  retry_backoff: {base_seconds: 0.5, factor: 3, max_seconds: 10, jitter: 0.1}
  retry_on: [timeout, exit_code]
  timeout: 30
steps:
  - id: start
    agent: echo
    input: {value: {names: "{{ params.names }}"}}
  - id: grp
    needs: [start]
    when: params.flag
    steps:
      - id: child
        agent: shell
        input: {command: "echo {{ steps.start.output.names | join(',') }}"}
        retries: 0
      - id: nested
        needs: [child]
        steps:
          - id: leaf
            agent: echo
            input: {value: "{{ steps.child.output.stdout }}"}
  - id: fan
    needs: [start]
    for_each: "{{ steps.start.output.names }}"
    agent: echo
    input: {value: "{{ item }}"}
    concurrency: small
    runs_on: pool-a
    asset: "file://fan/out"
  - id: ask
    needs: [grp, fan]
    approval:
      title: "Ship {{ steps.leaf.output }}?"
      fields:
        colour: {type: enum, choices: [red, blue], default: red}
        count: {type: int}
      timeout: 60
      on_timeout: reject
      on_reject: continue
  - id: pause
    needs: [ask]
    wait: {seconds: 1}
  - id: hook
    needs: [pause]
    event: {key: "deploy-{{ params.names | first }}", timeout: 5}
  - id: undoable
    needs: [hook]
    agent: echo
    input: {value: 1}
    compensate: {agent: shell, input: {command: "echo undo {{ steps.undoable.output }}"}}
"""


def test_a_valid_spec_becomes_a_mission_spec():
    spec = loads(text(VALID))
    assert isinstance(spec, MissionSpec)
    assert spec.name == "full-tour"
    assert spec.params == {"names": ["a", "b"], "flag": True}
    assert spec.defaults.retries == 2
    assert spec.defaults.retry_backoff.factor == 3
    assert spec.defaults.retry_on == ["timeout", "exit_code"]
    grp = spec.steps[1]
    assert isinstance(grp, Step) and grp.kind == "steps"
    assert grp.when == "params.flag"
    assert [s.id for s in grp.steps] == ["child", "nested"]
    assert spec.steps[2].for_each == "{{ steps.start.output.names }}"
    assert spec.steps[3].approval.fields["colour"].choices == ["red", "blue"]
    assert [s.kind for s in spec.steps] == [
        "agent",
        "steps",
        "agent",
        "approval",
        "wait",
        "event",
        "agent",
    ]


def test_walk_gives_paths_parents_before_children():
    paths = [path for path, _ in loads(text(VALID)).walk()]
    assert paths == [
        "start",
        "grp",
        "grp/child",
        "grp/nested",
        "grp/nested/leaf",
        "fan",
        "ask",
        "pause",
        "hook",
        "undoable",
    ]


def test_a_dumped_spec_validates_back_to_the_same_spec():
    spec = loads(text(VALID))
    assert validate_data(spec.model_dump(mode="json", exclude_none=True)) == spec
    assert validate_data(json.loads(spec.model_dump_json())) == spec


def test_json_and_yaml_forms_of_a_valid_spec_are_equal(tmp_path):
    data = yaml.safe_load(text(VALID))
    as_json = tmp_path / "tour.json"
    as_json.write_text(json.dumps(data, indent=2))
    as_yaml = tmp_path / "tour.yaml"
    as_yaml.write_text(text(VALID))
    assert load(as_json) == load(as_yaml) == loads(json.dumps(data)) == validate_data(data)


BROKEN = """
name: Broken Mission
params: {x: 1}
defaults: {retries: many}
colour: blue
steps:
  - id: a
    agent: ecko
    input: {value: 1}
  - id: a
    agent: echo
    input: {value: "{{ params.y }}"}
  - id: b
    agent: shell
    needs: [zz]
    retries: x
    input: {cmd: ls}
  - id: c
    agent: echo
    steps: []
  - id: d
    agent: echo
    input: {value: "{{ ''.__class__ }} {{ steps.b.output }} {{ item }}"}
    retry_on: [nope]
  - id: e
    wait: {seconds: 1, until: "2030-01-01T00:00:00Z"}
  - id: f
    approval:
      title: t
      fields: {approved: {type: bool}, pick: {type: enum}}
  - id: g1
    agent: echo
    input: {value: 1}
    needs: [g3]
  - id: g2
    agent: echo
    input: {value: 1}
    needs: [g1]
  - id: g3
    agent: echo
    input: {value: 1}
    needs: [g2]
"""

EXPECTED = [
    (None, "name", "slug"),
    (None, "defaults.retries", "must be an integer"),
    (None, "colour", "unknown field"),
    ("a", "agent", "unknown agent 'ecko'"),
    ("a", "id", "duplicate id"),
    ("a", "input.value", "unknown param 'y'"),
    ("b", "needs", "unknown step 'zz'"),
    ("b", "retries", "must be an integer"),
    ("b", "input.cmd", "unknown field"),
    ("b", "input.command", "required field is missing"),
    ("c", "steps", "exactly one kind"),
    ("d", "input.value", "unsafe expression"),
    ("d", "retry_on", "unknown error kind 'nope'"),
    ("e", "wait", "not both"),
    ("f", "approval.fields.approved", "reserved"),
    ("f", "approval.fields.pick", "needs 'choices'"),
    ("g1", "needs", "dependency cycle: g1 -> g3 -> g2 -> g1"),
]


def test_every_problem_of_a_file_is_reported_together():
    problems = problems_of(BROKEN)
    assert len(problems) >= 17
    for step, field, needle in EXPECTED:
        hits = [p for p in problems if (p.step, p.field) == (step, field) and needle in p.message]
        assert hits, f"no problem {step}/{field}/{needle!r} in:\n" + "\n".join(map(str, problems))
        assert all(p.mission == "Broken Mission" and p.line for p in hits)
    assert_one_line(problems)


def test_problems_are_sorted_by_line_and_carry_their_lines():
    problems = problems_of(BROKEN)
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    unknown_agent = next(p for p in problems if "ecko" in p.message)
    assert unknown_agent.line == line_of(BROKEN, "agent: ecko")


def test_the_spec_error_message_has_one_line_per_problem(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(text(BROKEN))
    with pytest.raises(SpecError) as caught:
        load(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems)
    assert all(line.startswith(f"{path}:") for line in lines)
    assert f"{path}:{line_of(BROKEN, 'agent: ecko')}: mission 'Broken Mission', step 'a', " in (
        str(caught.value)
    )


def test_json_and_yaml_forms_of_a_broken_spec_give_the_same_problems():
    data = yaml.safe_load(text(BROKEN))

    def located(problems):
        found = [
            (p.mission, p.step, p.field, re.sub(r", line \d+", "", p.message)) for p in problems
        ]
        return sorted(found, key=repr)

    from_yaml = problems_of(BROKEN)
    from_json = problems_of(json.dumps(data, indent=2))
    from_json_one_line = problems_of(json.dumps(data), fmt="json")
    with pytest.raises(SpecError) as caught:
        validate_data(data)
    assert located(from_yaml) == located(from_json) == located(from_json_one_line)
    assert located(from_yaml) == located(caught.value.problems)
    assert all(p.line for p in from_json)  # JSON specs carry lines too
    assert all(p.line is None for p in caught.value.problems)  # plain data has none


def test_a_multiline_expression_problem_is_still_one_line():
    spec = """
    name: m
    steps:
      - id: s
        agent: echo
        input:
          value: |
            {{ params.a
            }} and {{ ''.__class__ }}
    """
    assert_one_line(problems_of(spec))
