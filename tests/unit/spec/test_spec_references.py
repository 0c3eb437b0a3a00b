"""Expressions in a spec: safe, well formed, known params, references only to dependencies."""

from __future__ import annotations

import json

import pytest
from spec_testlib import find, line_of, problems_of, text

from autoagent.spec import loads


def one_step(field_yaml: str, *, params: str = "{x: 1, flag: true}") -> str:
    return f"""
    name: m
    params: {params}
    steps:
      - id: s
        agent: echo
        {field_yaml}
    """


def test_unsafe_expression():
    spec = one_step("input: {value: \"{{ ''.__class__ }}\"}")
    problem = find(problems_of(spec), step="s", field="input.value")
    assert problem.message.startswith("unsafe expression")
    assert "names starting with '_' are forbidden" in problem.message
    assert problem.mission == "m"
    assert problem.line == line_of(spec, "__class__")


@pytest.mark.parametrize(
    "expr",
    [
        "{{ params.x.__class__ }}",
        "{{ params['__class__'] }}",
        "{{ params.x | attr('y') }}",
        "{{ range(10) }}",
        "{% for i in params %}x{% endfor %}",
        "{{ lipsum() }}",
        "{{ 'a' * 100 }}",
    ],
)
def test_unsafe_expressions_are_validation_errors(expr):
    spec = one_step("input: {value: " + json.dumps(expr) + "}")
    problem = find(problems_of(spec), step="s", field="input.value")
    assert problem.message.startswith("unsafe expression")


def test_malformed_expression():
    spec = one_step('input: {value: "{{ params.x "}')
    problem = find(problems_of(spec), step="s", field="input.value")
    assert problem.message.startswith("malformed expression '{{ params.x'")
    assert "syntax error" in problem.message


def test_expression_problem_names_the_exact_nested_field():
    spec = """
    name: m
    steps:
      - id: s
        agent: shell
        input:
          command: ls
          env:
            A: "{{ params.missing }}"
    """
    problem = find(problems_of(spec), step="s", field="input.env.A")
    assert problem.message == "unknown param 'missing'"
    assert problem.line == line_of(spec, "A:")


def test_expression_in_a_list_item():
    spec = one_step('input: {value: [1, "{{ params.y }}"]}')
    problem = find(problems_of(spec), field="input.value[1]")
    assert problem.message == "unknown param 'y'"


def test_unknown_param_with_a_hint():
    spec = one_step('input: {value: "{{ params.flga }}"}')
    problem = find(problems_of(spec), step="s", field="input.value")
    assert problem.message == "unknown param 'flga' (did you mean 'flag'?)"


def test_reference_to_a_step_that_is_not_a_dependency():
    spec = """
    name: m
    steps:
      - {id: a, agent: echo, input: {value: 1}}
      - id: b
        agent: echo
        input: {value: "{{ steps.a.output }}"}
    """
    problem = find(problems_of(spec), step="b", field="input.value")
    assert "references step 'a', which is not a dependency" in problem.message
    assert "add it to 'needs'" in problem.message
    assert problem.line == line_of(spec, "steps.a.output")


def test_reference_to_an_unknown_step():
    spec = """
    name: m
    steps:
      - {id: fetch, agent: echo, input: {value: 1}}
      - {id: b, agent: echo, needs: [fetch], input: {value: "{{ steps.fetsh.output }}"}}
    """
    problem = find(problems_of(spec), step="b", field="input.value")
    assert problem.message == "references unknown step 'fetsh' (did you mean 'fetch'?)"


def test_reference_to_its_own_output():
    spec = one_step('input: {value: "{{ steps.s.output }}"}')
    assert "its own output" in find(problems_of(spec), step="s").message


def test_reference_allowed_through_a_transitive_need():
    spec = """
    name: m
    steps:
      - {id: a, agent: echo, input: {value: 1}}
      - {id: b, agent: echo, needs: [a], input: {value: 2}}
      - {id: c, agent: echo, needs: [b], input: {value: "{{ steps.a.output }}"}}
    """
    assert loads(text(spec)).steps[2].needs == ["b"]


def test_reference_allowed_to_a_descendant_of_a_needed_group():
    spec = """
    name: m
    steps:
      - id: grp
        steps:
          - id: sub
            steps:
              - {id: deep, agent: echo, input: {value: 1}}
      - {id: after, agent: echo, needs: [grp], input: {value: "{{ steps.deep.output }}"}}
    """
    assert loads(text(spec)).steps[1].id == "after"


def test_reference_allowed_to_a_step_of_an_enclosing_groups_dependency():
    spec = """
    name: m
    steps:
      - {id: setup, agent: echo, input: {value: 1}}
      - {id: prep, agent: echo, needs: [setup], input: {value: 1}}
      - id: grp
        needs: [prep]
        steps:
          - id: inner
            steps:
              - {id: leaf, agent: echo, input: {value: "{{ steps.setup.output }}"}}
    """
    assert [p for p, _ in loads(text(spec)).walk()][-1] == "grp/inner/leaf"


def test_reference_to_a_sibling_of_the_enclosing_group_needs_the_group_to_need_it():
    spec = """
    name: m
    steps:
      - {id: setup, agent: echo, input: {value: 1}}
      - id: grp
        steps:
          - {id: leaf, agent: echo, input: {value: "{{ steps.setup.output }}"}}
    """
    problem = find(problems_of(spec), step="leaf", field="input.value")
    assert "references step 'setup', which is not a dependency" in problem.message


def test_reference_into_a_for_each_group_is_refused():
    spec = """
    name: m
    steps:
      - id: fan
        for_each: [1, 2]
        steps:
          - {id: each, agent: echo, input: {value: "{{ item }}"}}
      - {id: after, agent: echo, needs: [fan], input: {value: "{{ steps.each.output }}"}}
      - {id: ok, agent: echo, needs: [fan], input: {value: "{{ steps.fan.output }}"}}
    """
    problem = find(problems_of(spec), step="after", field="input.value")
    assert "inside the for_each group 'fan'" in problem.message
    assert "steps.fan.output" in problem.message


def test_item_outside_for_each_is_refused():
    spec = one_step('input: {value: "{{ item }}"}')
    problem = find(problems_of(spec), step="s", field="input.value")
    assert "'item' is only defined in a for_each step" in problem.message


def test_item_in_the_when_of_a_for_each_step_is_refused():
    spec = """
    name: m
    steps:
      - id: s
        agent: echo
        for_each: [1, 2]
        when: "{{ item > 1 }}"
        input: {value: "{{ item }}"}
    """
    problem = find(problems_of(spec), step="s")
    assert problem.field == "when" and "'item'" in problem.message


def test_item_inside_a_for_each_step_and_a_for_each_groups_children():
    spec = """
    name: m
    params: {names: [a, b]}
    steps:
      - id: each
        agent: echo
        for_each: "{{ params.names }}"
        input: {value: "{{ item }}"}
      - id: fan
        for_each: params.names
        steps:
          - id: inner
            agent: echo
            when: "{{ item != 'b' }}"
            input: {value: "{{ item | upper }}"}
          - id: deeper
            steps:
              - {id: leaf, agent: echo, input: {value: "{{ item }}"}}
      - id: child
        mission: nowhere.yaml
        for_each: [1]
        params: {n: "{{ item }}"}
    """
    problems = problems_of(spec)
    assert [p.field for p in problems] == ["mission"]  # only the missing child file


@pytest.mark.parametrize(
    "when", ["params.flag", "params.x > 1 and not params.flag", "true", "{{ params.flag }}"]
)
def test_bare_when_expressions_are_accepted(when):
    spec = text(one_step(f"when: {when!r}\n        input: {{value: 1}}"))
    assert loads(spec).steps[0].when == when


def test_bare_when_is_checked_like_an_expression():
    spec = one_step("when: params.nope\n        input: {value: 1}")
    problem = find(problems_of(spec), step="s", field="when")
    assert problem.message == "unknown param 'nope'"


def test_bare_for_each_is_checked_like_an_expression():
    spec = one_step("for_each: params.x.__class__\n        input: {value: 1}")
    problem = find(problems_of(spec), step="s", field="for_each")
    assert problem.message.startswith("unsafe expression")


def test_when_may_be_a_bool_and_for_each_a_literal_list():
    spec = one_step("when: false\n        for_each: [1, 2]\n        input: {value: '{{ item }}'}")
    step = loads(text(spec)).steps[0]
    assert step.when is False and step.for_each == [1, 2]


def test_expressions_in_approval_wait_event_and_child_params_are_checked():
    spec = """
    name: m
    steps:
      - id: ask
        approval: {title: "{{ params.a }}", description: "{{ steps.x.output }}"}
      - id: pause
        wait: {seconds: "{{ params.b }}"}
      - id: hook
        event: {key: "{{ item }}"}
    """
    problems = problems_of(spec)
    assert find(problems, step="ask", field="approval.title").message == "unknown param 'a'"
    assert "unknown step 'x'" in find(problems, field="approval.description").message
    assert find(problems, step="pause", field="wait.seconds").message == "unknown param 'b'"
    assert "'item'" in find(problems, step="hook", field="event.key").message


def test_broken_params_do_not_make_every_reference_a_problem():
    spec = """
    name: m
    params: [x, y]
    steps:
      - {id: s, agent: echo, input: {value: "{{ params.x }}"}}
    """
    problem = find(problems_of(spec))
    assert (problem.step, problem.field) == (None, "params")
    assert problem.message == "must be a mapping (got ['x', 'y'])"
