"""The loader: YAML/JSON text into data, a line for every path, and reading problems."""

from __future__ import annotations

import json

import pytest
from spec_testlib import find, line_of, problems_of, problems_of_data, text

from autoagent.errors import SpecError
from autoagent.spec import load, loads
from autoagent.spec.loader import read_file, read_text

NESTED = """
name: nested
steps:
  - id: outer
    steps:
      - id: first
        agent: echo
        input: {value: 1}
      - id: second
        agent: shell
        input:
          command: echo hi
          env:
            A: "1"
"""


def test_line_map_of_a_nested_step_field():
    doc = read_text(text(NESTED))
    assert doc.problems == []
    assert doc.line(("steps", 0, "id")) == line_of(NESTED, "id: outer")
    assert doc.line(("steps", 0, "steps", 1)) == line_of(NESTED, "id: second")
    command = ("steps", 0, "steps", 1, "input", "command")
    assert doc.line(command) == line_of(NESTED, "command: echo hi")
    assert doc.line(("steps", 0, "steps", 1, "input", "env", "A")) == line_of(NESTED, 'A: "1"')


def test_line_of_a_missing_path_falls_back_to_the_nearest_ancestor():
    doc = read_text(text(NESTED))
    missing = ("steps", 0, "steps", 1, "input", "cwd")
    assert doc.line(missing) == line_of(NESTED, "input:", 2)
    assert doc.line(("nowhere",)) == 1


def test_json_text_gets_a_line_map_too():
    spec = '{\n  "name": "j",\n  "steps": [\n    {"id": "a",\n     "agent": "echo"}\n  ]\n}'
    doc = read_text(spec)
    assert doc.data["name"] == "j"
    assert doc.line(("steps", 0, "agent")) == 5
    assert doc.line(("name",)) == 2


def test_malformed_yaml_reports_the_line_and_the_mission_name():
    spec = """
    name: broken
    steps:
      - id: a
        agent: [echo
    """
    problem = find(problems_of(spec), contains="malformed YAML")
    assert problem.mission == "broken"
    assert problem.step is None and problem.field is None
    assert problem.line == line_of(spec, "agent: [echo") + 1  # the parser notices at the end


def test_malformed_yaml_in_the_middle_names_its_line():
    spec = "name: m\nsteps:\n  - id: a\n   bad: indentation\n  - id: b\n"
    problem = find(problems_of(spec), contains="malformed YAML")
    assert problem.line == 4
    assert problem.mission == "m"


def test_malformed_json_reports_the_line():
    spec = '{\n  "name": "jj",\n  "steps": [\n    {"id": "a",}\n  ]\n}'
    problem = find(problems_of(spec), contains="malformed JSON")
    assert problem.line == 4
    assert problem.mission == "jj"


def test_malformed_json_file_is_read_as_json_by_its_suffix(tmp_path):
    path = tmp_path / "thing.json"
    path.write_text('{"name": "thing", "steps": [}')
    with pytest.raises(SpecError) as caught:
        load(path)
    problem = find(caught.value.problems, contains="malformed JSON")
    assert problem.file == str(path)
    assert problem.line == 1
    assert str(problem).startswith(f"{path}:1: mission 'thing'")


def test_unreadable_file_is_a_problem_not_a_crash(tmp_path):
    doc = read_file(tmp_path / "absent.yaml")
    assert doc.data is None
    assert doc.problems[0].mission == "absent"
    assert "cannot read" in doc.problems[0].message
    with pytest.raises(SpecError):
        load(tmp_path / "absent.yaml")


def test_duplicate_yaml_keys_name_the_step_field_and_line():
    spec = """
    name: dup
    steps:
      - id: a
        agent: echo
        input:
          value: 1
          value: 2
    """
    problem = find(problems_of(spec), contains="duplicate key")
    assert problem.mission == "dup"
    assert problem.step == "a"
    assert problem.field == "input.value"
    assert problem.line == line_of(spec, "value: 2")


def test_duplicate_top_level_key_has_no_step():
    spec = """
    name: dup
    name: dup
    steps:
      - {id: a, agent: echo, input: {value: 1}}
    """
    problem = find(problems_of(spec), contains="duplicate key")
    assert (problem.mission, problem.step, problem.field) == ("dup", None, "name")
    assert problem.line == 2


def test_duplicate_json_keys_are_reported_as_well():
    spec = '{"name": "dj",\n "steps": [{"id": "a", "agent": "echo", "agent": "echo",\n'
    spec += ' "input": {"value": 1}}]}'
    problem = find(problems_of(spec), contains="duplicate key")
    assert (problem.step, problem.field, problem.line) == ("a", "agent", 2)


def test_alias_bomb_is_refused_quickly():
    lines = ["name: bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("steps: [{id: s, agent: echo, input: {value: *a8}}]")
    problem = find(problems_of("\n".join(lines)), contains="too large")
    assert "AUTOAGENT_MAX_SPEC_VALUES" in problem.message
    assert problem.mission == "bomb"


def test_recursive_alias_is_refused():
    spec = "name: loop\nsteps:\n  - &s {id: a, agent: echo, input: {value: [*s]}}\n"
    problem = find(problems_of(spec), contains="recursive alias")
    assert problem.line == 3


def test_harmless_aliases_are_fine():
    spec = """
    name: aliases
    steps:
      - id: a
        agent: shell
        input: &cmd {command: echo hi}
      - id: b
        agent: shell
        input: *cmd
    """
    assert [s.input for s in loads(text(spec)).steps] == [{"command": "echo hi"}] * 2


def test_fmt_json_reads_json_even_without_a_leading_brace():
    spec = json.dumps({"name": "x", "steps": [{"id": "a", "agent": "echo", "input": {}}]})
    with pytest.raises(SpecError) as caught:
        loads("  \n" + spec, fmt="json")
    assert find(caught.value.problems, field="input.value").step == "a"


@pytest.mark.parametrize(
    "spec",
    [
        "name: deep\nsteps: " + "[" * 5000 + "]" * 5000,
        '{"name": "deep", "steps": ' + "[" * 5000 + "]" * 5000 + "}",
        "name: deep\nsteps:\n  - {id: a, agent: echo, input: {value: "
        + "[" * 150
        + "]" * 150
        + "}}",
    ],
)
def test_deeply_nested_text_is_a_problem_not_a_crash(spec):
    problem = find(problems_of(spec, lines=False), contains="nested too deeply")
    assert problem.mission == "deep"


def test_deeply_nested_data_is_a_problem_not_a_crash():
    value: list = []
    for _ in range(5000):
        value = [value]
    data = {"name": "deep", "steps": [{"id": "a", "agent": "echo", "input": {"value": value}}]}
    problem = find(problems_of_data(data), contains="nested too deeply")
    assert problem.mission == "deep"
