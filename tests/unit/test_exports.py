"""The public API of ``autoagent``: exactly these names, each documented and typed."""

from __future__ import annotations

import inspect

import autoagent

PUBLIC = {
    "Finished",
    "Report",
    "Running",
    "Step",
    "approval",
    "approve",
    "event",
    "mission",
    "problems",
    "report",
    "run",
    "run_spec",
    "signal",
    "start",
    "step",
    "sub_mission",
    "wait",
}


def test_the_exports_are_the_public_api():
    assert set(autoagent.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(autoagent, name), name


def test_every_export_is_documented_and_its_parameters_typed():
    for name in PUBLIC:
        item = getattr(autoagent, name)
        assert inspect.getdoc(item), f"{name} has no docstring"
        if inspect.isfunction(item):
            signature = inspect.signature(item)
            untyped = [p for p in signature.parameters.values() if p.annotation is p.empty]
            assert not untyped, f"{name}: {untyped} have no type"
