"""Hostile and careless specs: each gets a list of named problems (or is valid), never an
exception, a hang or a false refusal; every limit has a name, a default and a setting."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from spec_testlib import find, problems_of, problems_of_data, text

from autoagent.api.notebook import problems
from autoagent.settings import get_settings
from autoagent.spec import load, loads, validate_data

ONE = "name: m\nsteps:\n  - id: a\n    agent: echo\n    input: {value: %s}\n"


class _Settings:
    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.monkeypatch = monkeypatch

    def setenv(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)
        get_settings.cache_clear()  # the settings are read once per process


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Settings]:
    """Set AUTOAGENT_* variables for one test."""
    yield _Settings(monkeypatch)
    monkeypatch.undo()
    get_settings.cache_clear()


def _chain(n: int) -> list[dict]:
    return [
        {
            "id": f"s{i}",
            "agent": "echo",
            "input": {"value": i},
            **({"needs": [f"s{i - 1}"]} if i else {}),
        }
        for i in range(n)
    ]


# -- values YAML or JSON cannot turn into spec values ------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2020-13-45", "'2020-13-45' is not a valid timestamp (quote it"),
        ("2020-02-30", "'2020-02-30' is not a valid timestamp"),
        ("!!int abc", "'abc' is not a valid int"),
        ("!!float abc", "'abc' is not a valid float"),
        ("!!bool maybe", "'maybe' is not a valid bool"),
        ("!!timestamp x", "'x' is not a valid timestamp"),
        ("9" * 5000, "is more than 4300 digits"),
        ("!!binary aGVsbG8=", "tag '!!binary' is not allowed"),
        ("!!python/object:os.system x", "is not allowed"),
        ("!custom x", "tag '!custom' is not allowed"),
        ("!!set {a}", "tag '!!set' is not allowed"),
        (".nan", "must be a finite number (got nan)"),
        ("-.inf", "must be a finite number (got -inf)"),
    ],
)
def test_a_value_yaml_cannot_read_is_a_named_problem(value: str, message: str) -> None:
    problem = find(problems_of(ONE % value), contains=message)
    assert (problem.mission, problem.step, problem.field, problem.line) == (
        "m",
        "a",
        "input.value",
        5,
    )


def test_a_bad_value_does_not_hide_the_other_problems() -> None:
    spec = ONE % "2020-13-45" + "  - {id: b, agent: nope}\n"
    found = problems_of(spec)
    assert find(found, step="a", contains="not a valid timestamp")
    assert find(found, step="b", contains="unknown agent 'nope'")


def test_a_huge_integer_in_a_typed_field_is_named_without_printing_it() -> None:
    spec = "name: m\nsteps:\n  - {id: a, agent: echo, retries: %s, input: {value: 1}}\n"
    problem = find(problems_of(spec % ("9" * 5000)), field="retries")
    assert "4300 digits" in problem.message and len(str(problem)) < 300


def test_huge_integers_in_json_and_in_data() -> None:
    spec = '{"name": "m", "steps": [{"id": "a", "agent": "echo", "input": {"value": %s}}]}'
    find(problems_of(spec % ("9" * 5000), lines=False), contains="more than 4300 digits")
    data = {"name": "m", "steps": [{"id": "a", "agent": "echo", "input": {"value": 10**20000}}]}
    problem = find(problems_of_data(data), field="input.value")
    assert "integer too large" in problem.message


def test_a_huge_integer_literal_in_an_expression() -> None:
    problem = find(problems_of(ONE % f'"{{{{ {"9" * 5000} }}}}"'), field="input.value")
    assert "4300 digits" in problem.message


def test_json_nested_500_deep_is_a_problem_with_a_line() -> None:
    spec = '{"name": "m", "steps": [{"id": "a", "agent": "echo", "input": {"value": %s}}]}'
    problem = find(problems_of(spec % ("[" * 500 + "]" * 500)), contains="nested too deeply")
    assert "AUTOAGENT_MAX_DEPTH" in problem.message


def test_yaml_dates_become_iso_text_and_keys_stay_what_was_written() -> None:
    spec = loads(
        text(
            """
            name: m
            params: {on: 1, day: 2030-01-31, 'no': 2}
            steps:
              - {id: a, agent: echo, input: {value: "{{ params.on }}"}}
              - {id: b, wait: {until: 2030-01-31T09:00:00Z}}
            """
        )
    )
    assert spec.params == {"on": 1, "day": "2030-01-31", "no": 2}
    json.dumps(spec.model_dump(mode="json"))  # everything in it can be stored


def test_merge_keys_still_work() -> None:
    spec = loads(
        text(
            """
            name: m
            steps:
              - &base {id: a, agent: echo, input: {value: 1}}
              - {<<: *base, id: b}
              - {<<: [*base], id: c, input: {value: 3}}
            """
        )
    )
    assert [(s.id, s.agent, s.input) for s in spec.steps] == [
        ("a", "echo", {"value": 1}),
        ("b", "echo", {"value": 1}),
        ("c", "echo", {"value": 3}),
    ]


def test_a_second_yaml_document_is_refused() -> None:
    find(problems_of(ONE % 1 + "---\nname: other\n"), contains="one YAML document")


# -- Python data --------------------------------------------------------------------------------


def test_tuples_are_lists_and_are_validated_like_them() -> None:
    data = {
        "name": "m",
        "steps": (
            {"id": "a", "agent": "nope"},
            {"id": "b", "agent": "echo", "input": {"value": 1}, "needs": ("zz",)},
        ),
    }
    found = problems_of_data(data)
    assert find(found, step="a", field="agent").message.startswith("unknown agent 'nope'")
    assert find(found, step="b", field="needs").message.startswith("unknown step 'zz'")
    good = validate_data({"name": "m", "steps": tuple(_chain(3))})
    assert good.checked and [s.needs for s in good.steps] == [[], ["s0"], ["s1"]]


def test_values_that_cannot_be_stored_are_named() -> None:
    data = {
        "name": "m",
        "params": {"blob": b"x", "tags": {"a"}, 3: "three"},
        "steps": [{"id": "a", "agent": "echo", "input": {"value": float("nan")}}],
    }
    found = problems_of_data(data)
    assert "bytes is not a spec value" in find(found, field="params.blob").message
    assert "set is not a spec value" in find(found, field="params.tags").message
    assert "a key must be a string (got 3)" in find(found, field="params.3").message
    assert find(found, step="a", field="input.value").message.startswith("must be a finite")


def test_a_list_that_contains_itself() -> None:
    loop: list = []
    loop.append(loop)
    data = {"name": "m", "steps": [{"id": "a", "agent": "echo", "input": {"value": loop}}]}
    find(problems_of_data(data), contains="a value contains itself")


def test_problems_of_anything_is_a_list_of_lines() -> None:
    for thing in ([1, 2], None, 5, "", "name: [", {"steps": ()}):
        found = problems(thing)
        assert found and all(isinstance(p, str) and "\n" not in p for p in found), thing


# -- size and shape -------------------------------------------------------------------------------


def test_a_reversed_chain_of_10000_steps_is_valid() -> None:
    steps = _chain(10_000)[::-1]
    assert len(validate_data({"name": "m", "steps": steps}).steps) == 10_000


def test_a_cycle_through_10000_steps_is_one_problem() -> None:
    steps = _chain(10_000)
    steps[0]["needs"] = ["s9999"]
    (problem,) = problems_of_data({"name": "m", "steps": steps})
    assert problem.message.startswith("dependency cycle: s0 -> s9999 -> s9998")


def test_unknown_needs_among_10000_steps_still_get_hints() -> None:
    steps = _chain(10_000)
    steps[5000]["needs"] = ["s4999x"]
    steps[6000]["needs"] = ["nothing-like-it"]
    found = problems_of_data({"name": "m", "steps": steps})
    assert "did you mean 's4999'?" in find(found, step="s5000").message
    assert "did you mean" not in find(found, step="s6000").message


def test_too_many_steps(settings: _Settings) -> None:
    settings.setenv("AUTOAGENT_MAX_STEPS", "50")
    (problem,) = problems_of_data({"name": "m", "steps": _chain(51)})
    assert "too many steps: more than 50 (limit AUTOAGENT_MAX_STEPS)" in problem.message
    assert validate_data({"name": "m", "steps": _chain(50)}).checked


def test_a_file_past_the_size_limit_is_not_read(settings, tmp_path: Path) -> None:
    settings.setenv("AUTOAGENT_MAX_SPEC_BYTES", "1000")
    path = tmp_path / "big.yaml"
    path.write_text(ONE % ("x" * 2000))
    assert any("spec too large" in p and "AUTOAGENT_MAX_SPEC_BYTES" in p for p in problems(path))
    assert any("spec too large" in p for p in problems(ONE % ("x" * 2000)))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_file_is_read_only_up_to_the_limit() -> None:
    found = problems(Path("/dev/zero"))
    assert len(found) == 1 and "spec too large" in found[0]


def test_aliases_of_long_strings_stop_at_the_expanded_size(settings) -> None:
    settings.setenv("AUTOAGENT_MAX_EXPANDED_BYTES", "100000")
    lines = ["name: bomb", f"a0: &a0 {'x' * 5000}"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 4)]
    lines.append("steps: [{id: s, agent: echo, input: {value: *a3}}]")
    problem = find(problems_of("\n".join(lines)), contains="too large")
    assert (
        "100000 bytes once aliases expand (limit AUTOAGENT_MAX_EXPANDED_BYTES)" in problem.message
    )


def test_a_literal_for_each_wider_than_the_limit(settings) -> None:
    settings.setenv("AUTOAGENT_MAX_FOR_EACH", "3")
    spec = "name: m\nsteps:\n  - {id: a, agent: echo, for_each: [1, 2, 3, 4], input: {value: 1}}\n"
    problem = find(problems_of(spec), field="for_each")
    assert "4 items: at most 3 (limit AUTOAGENT_MAX_FOR_EACH)" in problem.message


@pytest.mark.timeout(30)
def test_text_that_made_the_name_guess_backtrack_is_answered_at_once() -> None:
    # 4,000 blank lines, then a syntax error: the old regular expression took ~67 s
    found = problems("\n" * 40_000 + "a: [")
    assert len(found) == 1 and "malformed YAML" in found[0]


def test_a_deeply_nested_expression_names_its_step_and_hides_nothing() -> None:
    deep = '"{{ ' + "(" * 3000 + "1" + ")" * 3000 + ' }}"'
    chained = '"{{ ' + "not " * 2000 + 'true }}"'
    spec = ONE % deep + f"  - {{id: b, agent: echo, input: {{value: {chained}}}}}\n"
    spec += "  - {id: c, agent: nope}\n"
    found = problems_of(spec)
    assert "nested too deeply" in find(found, step="a", field="input.value").message
    assert "nested too deeply" in find(found, step="b", field="input.value").message
    assert find(found, step="c", field="agent")


# -- child missions stay inside the mission's folder ----------------------------------------------


@pytest.mark.parametrize(
    "mission",
    ["/etc/passwd", "../outside.yaml", "../outside", "sub/../../outside.yaml", "link.yaml"],
)
def test_a_child_mission_outside_the_folder_is_refused_unread(tmp_path: Path, mission: str) -> None:
    folder = tmp_path / "missions"
    (folder / "sub").mkdir(parents=True)
    secret = "name: secret-name\nsteps: [{id: leaked, agent: echo, input: {value: s3cr3t}}]\n"
    (tmp_path / "outside.yaml").write_text(secret)
    (folder / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    parent = folder / "parent.yaml"
    parent.write_text(f"name: parent\nsteps:\n  - id: child\n    mission: {mission}\n")
    found = problems(parent)
    assert len(found) == 1 and "step 'child', field 'mission'" in found[0], found
    assert "outside the mission's folder" in found[0] or "not found" in found[0]
    assert "secret" not in found[0] and "s3cr3t" not in found[0] and "leaked" not in found[0]


def test_a_child_under_an_allowed_root(settings, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "build.yaml").write_text(
        "name: build\nsteps: [{id: b, agent: echo, input: {value: 1}}]\n"
    )
    folder = tmp_path / "missions"
    folder.mkdir()
    parent = folder / "parent.yaml"
    parent.write_text(f"name: parent\nsteps:\n  - {{id: child, mission: {shared / 'build'}}}\n")
    assert any("outside the mission's folder" in p for p in problems(parent))
    settings.setenv("AUTOAGENT_MISSION_ROOTS", str(shared))
    assert load(parent).steps[0].child.name == "build"


def test_a_child_path_the_file_system_cannot_hold(tmp_path: Path) -> None:
    (problem,) = problems_of_data(
        {"name": "m", "steps": [{"id": "a", "mission": "x" * 5000}]}, base_dir=tmp_path
    )
    assert problem.step == "a" and "child mission file not found" in problem.message
    assert len(str(problem)) < 300


def test_yaml_dump_of_a_valid_spec_reads_back() -> None:
    data = {"name": "m", "steps": _chain(3)}
    assert loads(yaml.safe_dump(data)).model_dump() == validate_data(data).model_dump()


def test_lone_surrogates_in_text_and_in_data() -> None:
    (problem,) = problems_of("name: m\nsteps: [\udc80]\n")
    assert "not valid Unicode" in problem.message and problem.line == 2
    data = {
        "name": "m",
        "params": {"\ud800": 1, "x": "\udc80"},
        "steps": [{"id": "a", "agent": "echo", "input": {"value": 1}}],
    }
    found = problems_of_data(data)
    assert "cannot be stored" in find(found, field="params.x").message
    assert find(found, contains="key that is not valid Unicode")


def test_an_input_key_that_looks_like_a_digit_but_is_not_one() -> None:
    found = problems_of_data(
        {"name": "m", "steps": [{"id": "a", "agent": "echo", "input": {"²": 1}}]}
    )
    assert find(found, field="input.²").message.startswith("unknown field for agent 'echo'")
