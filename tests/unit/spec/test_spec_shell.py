"""Shell safety: values reach a command through `shquote` or `env:`; a command that pastes a
value into its text unquoted gets a warning naming the step and field (an error with strict)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from spec_testlib import find, text
from typer.testing import CliRunner

from autoagent.cli import app
from autoagent.errors import SpecError
from autoagent.expressions import render
from autoagent.spec import loads

HOSTILE = [
    "a; touch {marker}",
    "$(touch {marker})",
    "`touch {marker}`",
    "x\ntouch {marker}",
    "it's'; touch {marker}; echo '",
    '"; touch {marker}; echo "',
    "-n",
    "",
    "* ? [a] ~ {{}} \\ \t end",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_shquote_makes_any_value_one_word_that_runs_nothing(tmp_path: Path, value: str) -> None:
    marker = tmp_path / "pwned"
    value = value.format(marker=marker)
    command = render(
        "printf '%s|' {{ params.v | shquote }} {{ params.l | shquote }}",
        {"params": {"v": value, "l": [value, "b c"]}, "steps": {}},
    )
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    assert done.stdout == f"{value}|{value}|b c|"
    assert not marker.exists()


def test_shquote_of_other_values() -> None:
    context = {"params": {"n": 3, "t": True, "m": {"a": "it's"}, "e": [], "z": None}, "steps": {}}
    rendered = render(
        {k: "{{ params." + k + " | shquote }}" for k in ("n", "t", "m", "e", "z")}, context
    )
    assert rendered == {
        "n": "3",
        "t": "true",
        "m": '\'{"a": "it\'"\'"\'s"}\'',
        "e": "''",
        "z": "''",
    }


SPEC = """
name: sh
params: {x: "a; rm -rf /"}
steps:
  - {id: a, agent: echo, input: {value: {files: [a]}}}
  - {id: pasted, agent: shell, input: {command: "echo {{ params.x }}"}}
  - id: output
    agent: shell
    needs: [a]
    input: {command: "ls {{ steps.a.output.files | join(' ') }}"}
  - {id: item, agent: shell, for_each: [a, b], input: {command: "cat {{ item }}"}}
  - id: undo
    agent: echo
    input: {value: 1}
    compensate: {agent: shell, input: {command: "echo {{ params.x }} >> log"}}
  - {id: quoted, agent: shell, input: {command: "echo {{ params.x | shquote }}"}}
  - {id: env, agent: shell, input: {command: 'echo "$X"', env: {X: "{{ params.x }}"}}}
  - {id: numbers, agent: shell, input: {command: "sleep {{ params.x | length }}; echo {{ 1 + 2 }}"}}
  - {id: flag, agent: shell, input: {command: "echo {{ 'yes' if params.x else 'no' }}"}}
  - {id: other, agent: echo, input: {value: "echo {{ params.x }}"}}
"""


def test_unquoted_values_in_shell_commands_are_warnings_naming_step_and_field() -> None:
    spec = loads(text(SPEC))
    warnings = spec.warnings
    assert {(w.step, w.field) for w in warnings} == {
        ("pasted", "input.command"),
        ("output", "input.command"),
        ("item", "input.command"),
        ("undo", "compensate.input.command"),
    }
    pasted = find(warnings, step="pasted")
    assert "puts params.x into its text unquoted" in pasted.message
    assert "{{ params.x | shquote }}" in pasted.message and "env:" in pasted.message
    assert pasted.line == 5
    assert "steps.a.output.files" in find(warnings, step="output").message
    assert "{{ item | shquote }}" in find(warnings, step="item").message


def test_strict_turns_the_warnings_into_errors() -> None:
    with pytest.raises(SpecError) as caught:
        loads(text(SPEC), strict=True)
    assert len(caught.value.problems) == 4


def test_validate_prints_warnings_and_strict_refuses(tmp_path: Path) -> None:
    path = tmp_path / "sh.yaml"
    path.write_text(text(SPEC))
    runner = CliRunner()
    lenient = runner.invoke(app, ["validate", str(path)])
    assert lenient.exit_code == 0, lenient.output
    assert "valid (10 steps, 4 warnings)" in lenient.stdout
    assert lenient.stderr.count("warning: ") == 4
    strict = runner.invoke(app, ["validate", "--strict", str(path)])
    assert strict.exit_code == 2
    assert len(strict.stderr.strip().splitlines()) == 4
    assert "step 'pasted', field 'input.command'" in strict.stderr
