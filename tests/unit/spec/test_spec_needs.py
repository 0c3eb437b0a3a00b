"""Rules across steps: unique ids, known needs, needs within one group, no cycles."""

from __future__ import annotations

from spec_testlib import find, line_of, problems_of, text

from autoagent.spec import loads


def test_duplicate_step_ids():
    spec = """
    name: m
    steps:
      - {id: a, agent: echo, input: {value: 1}}
      - {id: a, agent: echo, input: {value: 2}}
    """
    problem = find(problems_of(spec), field="id")
    assert (problem.mission, problem.step) == ("m", "a")
    assert problem.line == line_of(spec, "value: 2")
    assert f"first used by steps[0], line {line_of(spec, 'value: 1')}" in problem.message


def test_duplicate_step_ids_across_groups():
    spec = """
    name: m
    steps:
      - id: one
        steps:
          - id: same
            agent: echo
            input: {value: 1}
      - id: two
        steps:
          - id: same
            agent: echo
            input: {value: 2}
    """
    problem = find(problems_of(spec), contains="duplicate id")
    assert (problem.step, problem.field) == ("same", "id")
    assert problem.line == line_of(spec, "id: same", 2)


def test_group_id_clashing_with_a_child_id():
    spec = """
    name: m
    steps:
      - id: g
        steps:
          - {id: g, agent: echo, input: {value: 1}}
    """
    problem = find(problems_of(spec), contains="duplicate id")
    assert problem.step == "g"
    assert problem.line == line_of(spec, "{id: g")


def test_unknown_need_with_a_hint():
    spec = """
    name: m
    steps:
      - {id: fetch, agent: echo, input: {value: 1}}
      - id: use
        agent: echo
        input: {value: 1}
        needs:
          - fetch
          - fetsh
    """
    problem = find(problems_of(spec), step="use", field="needs")
    assert problem.message == "unknown step 'fetsh' (did you mean 'fetch'?)"
    assert problem.line == line_of(spec, "- fetsh")


def test_a_step_cannot_need_itself():
    spec = "name: m\nsteps:\n  - {id: a, agent: echo, input: {value: 1}, needs: [a]}\n"
    problem = find(problems_of(spec), step="a", field="needs")
    assert problem.message == "a step cannot need itself"
    assert problem.line == 3


def test_need_of_a_step_outside_the_group_says_to_make_the_enclosing_group_need_it():
    spec = """
    name: m
    steps:
      - {id: setup, agent: echo, input: {value: 1}}
      - id: grp
        steps:
          - id: inner
            agent: echo
            input: {value: 1}
            needs: [setup]
    """
    problem = find(problems_of(spec), step="inner", field="needs")
    assert "not in the same group" in problem.message
    assert "make the enclosing group 'grp' need it instead" in problem.message
    assert problem.line == line_of(spec, "needs: [setup]")


def test_need_of_a_step_inside_another_group_says_to_need_the_group():
    spec = """
    name: m
    steps:
      - id: grp
        steps:
          - {id: inner, agent: echo, input: {value: 1}}
      - {id: after, agent: echo, input: {value: 1}, needs: [inner]}
    """
    problem = find(problems_of(spec), step="after", field="needs")
    assert "inside group 'grp': need 'grp' instead" in problem.message


def test_need_between_steps_of_two_groups():
    spec = """
    name: m
    steps:
      - id: g1
        steps:
          - {id: x, agent: echo, input: {value: 1}}
      - id: g2
        steps:
          - {id: y, agent: echo, input: {value: 1}, needs: [x]}
    """
    problem = find(problems_of(spec), step="y", field="needs")
    assert "make the enclosing group 'g2' need 'g1' instead" in problem.message


def test_need_of_the_enclosing_group_and_of_an_own_child():
    spec = """
    name: m
    steps:
      - id: g
        needs: [c]
        steps:
          - {id: c, agent: echo, input: {value: 1}, needs: [g]}
    """
    problems = problems_of(spec)
    assert "a step cannot need its own group" in find(problems, step="c").message
    assert "a group cannot need its own steps" in find(problems, step="g").message


def test_cycle_of_three_steps_names_every_member_in_one_problem():
    spec = """
    name: m
    steps:
      - {id: a, agent: echo, input: {value: 1}, needs: [c]}
      - {id: b, agent: echo, input: {value: 1}, needs: [a]}
      - {id: c, agent: echo, input: {value: 1}, needs: [b]}
    """
    problems = problems_of(spec)
    cycle = find(problems, contains="dependency cycle")
    assert cycle.message.startswith("dependency cycle: a -> c -> b -> a")
    assert (cycle.mission, cycle.step, cycle.field) == ("m", "a", "needs")
    assert cycle.line == line_of(spec, "{id: a")
    assert len(problems) == 1


def test_cycle_inside_a_group():
    spec = """
    name: m
    steps:
      - id: grp
        steps:
          - {id: x, agent: echo, input: {value: 1}, needs: [y]}
          - {id: y, agent: echo, input: {value: 1}, needs: [x]}
    """
    cycle = find(problems_of(spec), contains="dependency cycle")
    assert (cycle.step, cycle.field) == ("x", "needs")
    assert "x -> y -> x" in cycle.message
    assert cycle.line == line_of(spec, "{id: x")


def test_two_separate_cycles_are_two_problems():
    spec = """
    name: m
    steps:
      - {id: a, agent: echo, input: {value: 1}, needs: [b]}
      - {id: b, agent: echo, input: {value: 1}, needs: [a]}
      - {id: c, agent: echo, input: {value: 1}, needs: [d]}
      - {id: d, agent: echo, input: {value: 1}, needs: [c]}
    """
    cycles = [p for p in problems_of(spec) if "cycle" in p.message]
    assert [p.step for p in cycles] == ["a", "c"]


def test_a_diamond_is_not_a_cycle():
    spec = """
    name: m
    steps:
      - {id: top, agent: echo, input: {value: 1}}
      - {id: left, agent: echo, input: {value: 1}, needs: [top]}
      - {id: right, agent: echo, input: {value: 1}, needs: [top]}
      - {id: bottom, agent: echo, input: {value: 1}, needs: [left, right]}
    """
    assert loads(text(spec)).steps[3].needs == ["left", "right"]


def test_a_step_may_need_a_group():
    spec = """
    name: m
    steps:
      - id: grp
        steps:
          - {id: inner, agent: echo, input: {value: 1}}
      - {id: after, agent: echo, input: {value: 1}, needs: [grp]}
    """
    assert loads(text(spec)).steps[1].needs == ["grp"]
