"""The public API of ``autoagent``: exactly these names, each documented and typed."""

from __future__ import annotations

import inspect

import autoagent

PUBLIC = {
    "Agent",
    "Finished",
    "Report",
    "Running",
    "StepFunction",
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
    "Tool",
    "tool",
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


def test_every_exception_is_in_the_one_tree_of_errors_py() -> None:
    """Each exception class AutoAgent defines is an AutoAgentError and lives in errors.py."""
    import importlib
    import inspect
    import pkgutil

    import autoagent
    from autoagent import errors

    found = []
    for info in pkgutil.walk_packages(autoagent.__path__, "autoagent."):
        if info.name in ("autoagent.watchdog",):  # a stdlib-only script run as its own process
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
            ):
                found.append((info.name, name, value))
    outside = [
        f"{module}.{name}"
        for module, name, value in found
        if module != "autoagent.errors" and not issubclass(value, errors.AutoAgentError)
    ]
    assert not outside, outside
    public = [name for module, name, _ in found if module == "autoagent.errors"]
    assert set(public) <= set(errors.__all__)
    for name in public:
        assert name in (errors.__doc__ or ""), f"{name} is not drawn in errors.py's docstring"
