"""How the code a run began on is compared with the code it would resume on."""

from __future__ import annotations

from autoagent.engine.versions import _code, changed

BEGAN = {
    "file": "/src/m.py",
    "source": "a" * 64,
    "definitions": {"fetch": "1", "ship": "2"},
    "git": "abc123",
    "package": "shop==1.0",
}


def test_the_same_module_and_package_is_no_change_whatever_the_commit() -> None:
    assert changed(BEGAN, {**BEGAN, "git": "def456"}) == []


def test_a_changed_module_names_its_file_its_definitions_and_the_commits() -> None:
    now = {**BEGAN, "source": "b" * 64, "definitions": {"fetch": "1", "ship": "3", "new": "4"}}
    said = changed(BEGAN, {**now, "git": "def456"})
    assert said[0].startswith("/src/m.py (sha256 aaaaaaaaaaaa → bbbbbbbbbbbb)")
    assert said[1] == "definitions changed: new, ship"
    assert said[2] == "git abc123 → def456"


def test_a_new_package_version_is_a_change() -> None:
    assert changed(BEGAN, {**BEGAN, "package": "shop==1.1"}) == ["package shop==1.0 → shop==1.1"]


def test_comments_and_layout_are_no_change_a_new_line_of_code_is() -> None:
    code = b"def f(x):\n    return x + 1\n"
    assert _code(code) == _code(b"# why\ndef f(x):\n\n    return x + 1  # same\n")
    source, definitions = _code(b"def f(x):\n    return x + 2\n")
    assert source != _code(code)[0] and definitions["f"] != _code(code)[1]["f"]
