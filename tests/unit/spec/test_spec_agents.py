"""Agents of steps and compensations: known names, inputs the agent accepts."""

from __future__ import annotations

from spec_testlib import find, line_of, problems_of, text

from autoagent.spec import loads


def test_unknown_agent_with_a_did_you_mean_hint():
    spec = """
    name: m
    steps:
      - id: run
        agent: shel
        input: {command: ls}
    """
    problem = find(problems_of(spec), step="run", field="agent")
    assert problem.message == "unknown agent 'shel' (did you mean 'shell'?)"
    assert problem.mission == "m"
    assert problem.line == line_of(spec, "agent: shel")


def test_unknown_agent_without_anything_close():
    spec = "name: m\nsteps:\n  - {id: a, agent: zzzzzzzz, input: {}}\n"
    assert find(problems_of(spec), field="agent").message == "unknown agent 'zzzzzzzz'"


def test_shell_without_command():
    spec = """
    name: m
    steps:
      - id: run
        agent: shell
        input:
          cwd: /tmp
    """
    problem = find(problems_of(spec), step="run", field="input.command")
    assert problem.message == "required field is missing (agent 'shell' needs it)"
    assert problem.line == line_of(spec, "input:")


def test_agent_step_without_input_at_all():
    spec = "name: m\nsteps:\n  - id: run\n    agent: shell\n"
    problem = find(problems_of(spec), step="run", field="input.command")
    assert problem.line == 3


def test_unknown_input_field_names_the_field_and_what_the_agent_takes():
    spec = """
    name: m
    steps:
      - id: run
        agent: shell
        input:
          command: ls
          comand: ls
    """
    problem = find(problems_of(spec), step="run", field="input.comand")
    assert "unknown field for agent 'shell', which takes: command, env, cwd, check" in (
        problem.message
    )
    assert "did you mean 'command'?" in problem.message
    assert problem.line == line_of(spec, "comand: ls")


def test_wrong_input_type_without_a_template():
    spec = """
    name: m
    steps:
      - id: nap
        agent: sleep
        input: {seconds: soon}
    """
    problem = find(problems_of(spec), step="nap", field="input.seconds")
    assert "number" in problem.message


def test_templates_are_tolerated_where_an_int_is_expected():
    spec = """
    name: m
    params: {times: 2, delay: 1}
    steps:
      - {id: flaky, agent: fail, input: {times: "{{ params.times }}"}}
      - {id: nap, agent: sleep, input: {seconds: "{{ params.delay }}"}}
    """
    spec_model = loads(text(spec))
    assert spec_model.steps[0].input == {"times": "{{ params.times }}"}


def test_compensation_agent_and_input_are_checked():
    spec = """
    name: m
    steps:
      - id: make
        agent: echo
        input: {value: 1}
        compensate:
          agent: shell
          input: {cmd: rm -rf build}
      - id: make2
        agent: echo
        input: {value: 1}
        compensate: {agent: ecoh}
    """
    problems = problems_of(spec)
    assert find(problems, step="make", field="compensate.input.command").line == line_of(
        spec, "input: {cmd"
    )
    find(problems, step="make", field="compensate.input.cmd", contains="unknown field")
    hint = find(problems, step="make2", field="compensate.agent")
    assert hint.message == "unknown agent 'ecoh' (did you mean 'echo'?)"


def test_compensation_may_reference_its_own_step_output():
    spec = """
    name: m
    steps:
      - id: make
        agent: echo
        input: {value: 1}
        compensate:
          agent: echo
          input: {value: "{{ steps.make.output }}"}
    """
    assert loads(text(spec)).steps[0].compensate.agent == "echo"
