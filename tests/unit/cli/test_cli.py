"""CLI exit codes and messages for a user's mistakes: one line each, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoagent.cli import app, parse_params

runner = CliRunner()


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_validate_ok(tmp_path):
    spec = write(tmp_path, "name: ok\nsteps:\n  - {id: a, agent: echo, input: {value: 1}}\n")
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 0
    assert "'ok' is valid (1 steps)" in result.output


def test_validate_reports_every_problem_one_line_each(tmp_path):
    spec = write(
        tmp_path,
        "\n".join(
            [
                "name: broken",
                "steps:",
                "  - {id: a, agent: ecko, input: {value: 1}}",
                "  - {id: b, agent: echo, needs: [zz], input: {value: 1}}",
                "  - {id: c, agent: echo, input: {value: \"{{ ''.__class__ }}\"}}",
                "  - {id: a, agent: echo, input: {value: 1}}",
                "  - {id: d, agent: echo, input: {value: 1}, colour: red}",
            ]
        ),
    )
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) >= 5, lines
    joined = "\n".join(lines)
    assert "step 'a', field 'agent': unknown agent 'ecko' (did you mean 'echo'?)" in joined
    assert "step 'b', field 'needs'" in joined and "'zz'" in joined
    assert "step 'c', field 'input.value'" in joined
    assert "duplicate id" in joined
    assert "field 'colour': unknown field" in joined
    assert all(line.startswith(str(spec)) for line in lines), lines
    assert "Traceback" not in result.output + result.stderr


def test_validate_malformed_yaml_names_the_line(tmp_path):
    spec = write(tmp_path, "name: x\nsteps:\n  - id: a\n    agent: [echo\n")
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    assert "malformed YAML" in result.stderr
    assert f"{spec}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_missing_file(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_run_refuses_unknown_param_before_anything_runs(tmp_path):
    spec = write(
        tmp_path, "name: p\nparams: {n: 1}\nsteps:\n  - {id: a, agent: echo, input: {value: 1}}\n"
    )
    result = runner.invoke(app, ["run", str(spec), "--param", "m=2"])
    assert result.exit_code == 2
    assert "field 'params.m': unknown param (the mission has: n)" in result.stderr


def test_run_refuses_malformed_param(tmp_path):
    spec = write(tmp_path, "name: p\nsteps:\n  - {id: a, agent: echo, input: {value: 1}}\n")
    result = runner.invoke(app, ["run", str(spec), "--param", "novalue"])
    assert result.exit_code == 2
    assert "expected KEY=VALUE" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2020-13-45", "'2020-13-45' is not a valid timestamp"),
        ("!!int abc", "'abc' is not a valid int"),
        ("!!binary aGk=", "tag '!!binary' is not allowed"),
        ("9" * 5000, "more than 4300 digits"),
        ("[1,\n  2", "malformed YAML"),
        ("{a: [", "malformed YAML"),
        (".nan", "must be a finite number"),
    ],
)
@pytest.mark.parametrize("command", ["run", "approve"])
def test_a_param_or_field_value_yaml_cannot_read_is_one_line(tmp_path, command, value, message):
    spec = write(tmp_path, "name: p\nsteps:\n  - {id: a, agent: echo, input: {value: 1}}\n")
    option = "--param" if command == "run" else "--field"
    target = str(spec) if command == "run" else "0b8a3b3e-7a49-4f6e-9a39-2d6f3e1f0c11"
    result = runner.invoke(app, [command, target, option, f"k={value}"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr) < 400


def test_status_refuses_a_malformed_run_id():
    result = runner.invoke(app, ["status", "not-a-run"])
    assert result.exit_code == 2
    assert "is not a run id" in result.stderr
    assert "Traceback" not in result.stderr


def test_params_are_yaml_scalars_and_lists():
    assert parse_params(["n=3", "flag=true", "xs=[1, 2]", "s=hello", "empty="]) == {
        "n": 3,
        "flag": True,
        "xs": [1, 2],
        "s": "hello",
        "empty": "",
    }


def test_approve_refuses_a_malformed_field_before_contacting_anything():
    result = runner.invoke(app, ["approve", "not-a-run", "--field", "ticket"])
    assert result.exit_code == 2
    assert "--field 'ticket': expected KEY=VALUE" in result.stderr


def test_signal_refuses_a_payload_that_is_not_json():
    result = runner.invoke(app, ["signal", "not-a-run", "k", "--data", "{oops"])
    assert result.exit_code == 2
    assert "--data is not JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_refuses_an_asset_key_that_is_not_a_uri(tmp_path):
    spec = write(
        tmp_path,
        "name: later\nsteps:\n  - {id: a, agent: echo, input: {value: 1}, asset: out/a}\n",
    )
    result = runner.invoke(app, ["run", str(spec)])
    assert result.exit_code == 2
    assert "step 'a', field 'asset': Key must be a valid URI" in result.stderr
    assert "Traceback" not in result.stderr


def _imports_prefect(*args: str) -> tuple[bool, str]:
    """Run the CLI with ``args`` in a fresh interpreter: whether Prefect got imported, and what
    it printed."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom autoagent.cli import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('PREFECT-LOADED' if 'prefect' in sys.modules else 'PREFECT-ABSENT')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    return "PREFECT-LOADED" in done.stdout, done.stdout + done.stderr


def test_validate_help_and_the_read_commands_import_no_prefect(tmp_path):
    spec = Path(__file__).resolve().parents[3] / "examples" / "demo.yaml"
    loaded, output = _imports_prefect("validate", str(spec))
    assert "is valid" in output and not loaded, output
    loaded, output = _imports_prefect("--help")
    assert "validate" in output and not loaded, output
    for command in (["list"], ["status", "00000000-0000-0000-0000-000000000000"]):
        loaded, output = _imports_prefect(*command)  # the unit tests' API is a dead address
        assert "cannot reach the Prefect API" in output and not loaded, output


def test_no_server_is_exit_code_4_with_one_line(tmp_path):
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 4
    assert result.stderr.count("\n") == 1 and "cannot reach the Prefect API" in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--state", "runing"], "--state 'runing': not a state; use one of scheduled"),
        (["--waiting", "human"], "--waiting 'human': use one of approval, event, timer"),
        (["--since", "yesterday"], "--since 'yesterday': expected a date or time"),
        (["--before", "2026-13-01"], "--before '2026-13-01': expected a date or time"),
        (["--limit", "0"], "Invalid value for '--limit'"),
    ],
)
def test_list_refuses_a_bad_filter_before_contacting_anything(options, message):
    result = runner.invoke(app, ["list", *options])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output


def test_run_refuses_a_bad_or_reserved_tag_before_anything_runs(tmp_path):
    spec = write(tmp_path, "name: ok\nsteps:\n  - {id: a, agent: echo, input: {value: 1}}\n")
    for tag, reason in (("two words", "no spaces"), ("mission:x", "reserved for AutoAgent")):
        result = runner.invoke(app, ["run", str(spec), "--tag", tag])
        assert result.exit_code == 2, result.output
        assert reason in result.output and "Traceback" not in result.output


def test_list_filters_read_ages_dates_and_state_names():
    from datetime import UTC, datetime, timedelta

    from autoagent.cli.listing import parse_query
    from autoagent.server.records import StateType

    query = parse_query(["Waiting", "failed"], "m", ["a"], "timer", "2h", "2026-12-01", 5)
    assert query.states == {StateType.PAUSED, StateType.FAILED}
    assert abs(datetime.now(UTC) - timedelta(hours=2) - query.since) < timedelta(seconds=5)
    assert query.before == datetime(2026, 12, 1).astimezone()
    assert (query.mission, query.tags, query.waiting, query.limit) == ("m", ("a",), "timer", 5)
