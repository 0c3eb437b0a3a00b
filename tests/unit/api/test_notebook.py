"""autoagent.problems: a spec given as a path, as text (YAML or one-line JSON) or as a dict."""

from __future__ import annotations

import json
from pathlib import Path

import autoagent

ROOT = Path(__file__).resolve().parents[3]


def test_problems_of_a_valid_file_text_or_dict_are_none():
    assert autoagent.problems(str(ROOT / "examples" / "demo.yaml")) == []
    assert autoagent.problems(ROOT / "examples" / "demo.yaml") == []
    spec = {"name": "ok", "steps": [{"id": "a", "agent": "echo", "input": {"value": 1}}]}
    assert autoagent.problems(spec) == []
    assert autoagent.problems(json.dumps(spec)) == []


def test_problems_name_the_mission_the_step_and_the_field():
    text = "name: broken\nsteps:\n  - {id: a, agent: ech, input: {value: 1}}\n"
    [line] = autoagent.problems(text)
    assert "mission 'broken', step 'a', field 'agent': unknown agent 'ech'" in line


def test_a_long_one_line_spec_is_not_taken_for_a_file_name():
    spec = {"name": "x" * 300, "steps": [{"id": "a", "agent": "echo", "input": {"value": 1}}]}
    [line] = autoagent.problems(json.dumps(spec))
    assert "field 'name'" in line
