"""``mission:`` steps: the child file is found, validated, and its problems reported upward."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_testlib import find, line_of, text

from autoagent.errors import SpecError
from autoagent.spec import load, loads, validate_data

CHILD = """
name: kid
params: {n: 1, label: x}
steps:
  - id: work
    agent: echo
    input: {value: "{{ params.n }}"}
"""


def write(tmp_path: Path, name: str, spec: str) -> Path:
    path = tmp_path / name
    path.write_text(text(spec))
    return path


def problems_of_file(path: Path):
    with pytest.raises(SpecError) as caught:
        load(path)
    return caught.value.problems


def test_child_mission_is_inlined(tmp_path):
    write(tmp_path, "kid.yaml", CHILD)
    parent = write(
        tmp_path,
        "parent.yaml",
        "name: parent\nsteps:\n  - {id: sub, mission: kid.yaml, params: {n: 5}}\n",
    )
    spec = load(parent)
    assert spec.steps[0].child is not None
    assert spec.steps[0].child.name == "kid"
    assert spec.steps[0].child.steps[0].id == "work"


def test_child_mission_by_name(tmp_path):
    write(tmp_path, "kid.yml", CHILD)
    spec = loads("name: p\nsteps:\n  - {id: sub, mission: kid}\n", base_dir=tmp_path)
    assert spec.steps[0].child.name == "kid"


def test_missing_child_file(tmp_path):
    spec = "name: p\nsteps:\n  - id: sub\n    mission: nope.yaml\n"
    parent = write(tmp_path, "p.yaml", spec)
    problem = find(problems_of_file(parent), step="sub", field="mission")
    assert problem.message == "child mission file not found: 'nope.yaml'"
    assert (problem.mission, problem.line, problem.file) == ("p", 4, str(parent))


def test_child_with_an_error_is_reported_against_the_parent_step(tmp_path):
    write(tmp_path, "bad.yaml", "name: bad\nsteps:\n  - {id: w, agent: ecko, input: {}}\n")
    spec = "name: p\nsteps:\n  - id: sub\n    mission: bad.yaml\n"
    parent = write(tmp_path, "p.yaml", spec)
    problem = find(problems_of_file(parent), step="sub", field="mission")
    assert problem.mission == "p" and problem.line == 4
    assert problem.message.startswith("in child mission 'bad.yaml': ")
    assert "mission 'bad', step 'w', field 'agent': unknown agent 'ecko'" in problem.message
    assert "bad.yaml:3" in problem.message
    assert "\n" not in str(problem)


def test_every_problem_of_the_child_is_reported(tmp_path):
    write(
        tmp_path,
        "bad.yaml",
        "name: bad\nsteps:\n  - {id: w, agent: ecko, input: {}}\n  - {id: w, wait: {}}\n",
    )
    with pytest.raises(SpecError) as caught:
        loads("name: p\nsteps:\n  - {id: sub, mission: bad.yaml}\n", base_dir=tmp_path)
    assert len(caught.value.problems) == 3
    assert {p.step for p in caught.value.problems} == {"sub"}


def test_unknown_child_param(tmp_path):
    write(tmp_path, "kid.yaml", CHILD)
    spec = """
    name: p
    steps:
      - id: sub
        mission: kid.yaml
        params:
          n: 2
          lable: y
    """
    parent = write(tmp_path, "p.yaml", spec)
    problem = find(problems_of_file(parent), step="sub", field="params.lable")
    assert problem.message == "child mission 'kid' has no param 'lable' (did you mean 'label'?)"
    assert problem.line == line_of(spec, "lable: y")


def test_child_params_are_checked_as_expressions(tmp_path):
    write(tmp_path, "kid.yaml", CHILD)
    spec = "name: p\nsteps:\n  - {id: sub, mission: kid.yaml, params: {n: '{{ params.z }}'}}\n"
    with pytest.raises(SpecError) as caught:
        loads(spec, base_dir=tmp_path)
    assert find(caught.value.problems, field="params.n").message == "unknown param 'z'"


def test_a_child_that_includes_itself(tmp_path):
    spec = "name: selfie\nsteps:\n  - id: again\n    mission: selfie.yaml\n"
    path = write(tmp_path, "selfie.yaml", spec)
    problem = find(problems_of_file(path), step="again", field="mission")
    assert problem.message.startswith("child mission 'selfie.yaml' includes itself")
    assert problem.line == 4


def test_two_missions_that_include_each_other(tmp_path):
    write(tmp_path, "b.yaml", "name: b\nsteps:\n  - {id: to_a, mission: a.yaml}\n")
    a = write(tmp_path, "a.yaml", "name: a\nsteps:\n  - {id: to_b, mission: b.yaml}\n")
    problem = find(problems_of_file(a), step="to_b", field="mission")
    assert "in child mission 'b.yaml'" in problem.message
    assert "child mission 'a.yaml' includes itself" in problem.message


def test_the_same_child_twice_is_not_a_cycle(tmp_path):
    write(tmp_path, "kid.yaml", CHILD)
    spec = "name: p\nsteps:\n  - {id: one, mission: kid.yaml}\n  - {id: two, mission: kid}\n"
    assert [s.child.name for s in loads(spec, base_dir=tmp_path).steps] == ["kid", "kid"]


def test_a_child_path_is_relative_to_the_parent_file(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "grandkid.yaml", CHILD)
    write(tmp_path / "sub", "kid.yaml", "name: k\nsteps:\n  - {id: g, mission: grandkid.yaml}\n")
    parent = write(tmp_path, "p.yaml", "name: p\nsteps:\n  - {id: s, mission: sub/kid.yaml}\n")
    assert load(parent).steps[0].child.steps[0].child.name == "kid"


def test_a_dumped_spec_with_children_validates_again(tmp_path, monkeypatch):
    write(tmp_path, "kid.yaml", CHILD)
    parent = write(tmp_path, "p.yaml", "name: p\nsteps:\n  - {id: s, mission: kid.yaml}\n")
    spec = load(parent)
    dumped = spec.model_dump(mode="json", exclude_none=True)
    monkeypatch.chdir(tmp_path.parent)  # a worker elsewhere: the file path no longer resolves
    assert validate_data(dumped) == spec


def test_child_outside_a_mission_step_is_refused():
    spec = "name: p\nsteps:\n  - {id: s, agent: echo, input: {value: 1}, child: {}}\n"
    with pytest.raises(SpecError) as caught:
        loads(spec)
    assert "'child' belongs to 'mission' steps" in find(caught.value.problems).message
