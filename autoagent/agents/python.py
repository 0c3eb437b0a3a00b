"""The ``python`` agent: call a function that its author registered with ``@tool``.

A spec names the function as ``"package.module:attr"`` (importable, or a module of the working
directory, as Prefect finds a flow's entrypoint). Only functions marked with ``@tool`` may
run, so a spec (possibly written by a planner at run time) cannot call ``os:system``. Note that
the module is imported before the mark is checked: importing runs its top-level code.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field

from autoagent.agents.base import AgentContext, AgentInput, BaseAgent
from autoagent.errors import AgentInputError, StepError

F = TypeVar("F", bound=Callable[..., Any])

TOOL_MARKER = "__autoagent_tool__"


def tool(fn: F) -> F:
    """Allow the ``python`` agent to call ``fn``; returns ``fn`` unchanged.

    ``fn`` may be sync or async; if it has a parameter named ``ctx`` it receives the
    ``AgentContext``. Its return value must be JSON-serialisable (it is the step's output).
    """
    setattr(fn, TOOL_MARKER, True)
    return fn


class PythonInput(AgentInput):
    function: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        description='The tool to call, as "package.module:attr".',
    )
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)


class PythonAgent(BaseAgent):
    """Calls a registered tool function; its return value is the step's output."""

    name = "python"
    input_model = PythonInput
    output_model = None
    idempotent = False
    error_kinds = frozenset({"error", "input", "output"})

    def run(self, ctx: AgentContext, input: PythonInput) -> Any:
        fn = resolve_tool(input.function)
        args, kwargs = _arguments(fn, input, ctx)
        try:
            result = fn(*args, **kwargs)
        except StepError:
            raise
        except Exception as e:
            raise StepError(f"{type(e).__name__}: {e}", kind="error") from e
        if inspect.isawaitable(result):
            return _finish(input.function, result)
        return _checked_output(input.function, result)


def resolve_tool(function: str) -> Callable[..., Any]:
    """Import ``"module:attr"`` and return it if it is a registered tool, else AgentInputError."""
    module_name, _, attr_path = function.partition(":")
    try:
        obj: Any = _import(module_name)
        for attr in attr_path.split("."):
            obj = getattr(obj, attr)
    except Exception as e:
        raise AgentInputError(
            f"function {function!r} cannot be imported: {type(e).__name__}: {e}"
        ) from e
    if not callable(obj) or getattr(obj, TOOL_MARKER, False) is not True:
        raise AgentInputError(
            f"function {function!r} is not a registered tool: "
            "decorate it with @autoagent.agents.tool"
        )
    return obj


def _import(module_name: str) -> Any:
    """The module, found as Python finds it or, as Prefect finds a flow's entrypoint, from the
    working directory (a project's own modules, with ``autoagent`` run from the project)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        here = os.getcwd()
        top = module_name.partition(".")[0]
        if exc.name != top or here in sys.path or not Path(here, top).exists():
            raise
        sys.path.append(here)
        return importlib.import_module(module_name)


def _arguments(
    fn: Callable[..., Any], input: PythonInput, ctx: AgentContext
) -> tuple[list[Any], dict[str, Any]]:
    """Add ``ctx`` when the signature asks for it, and check the call binds before making it."""
    kwargs = dict(input.kwargs)
    try:
        signature: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature
        signature = None
    if signature is None:
        return list(input.args), kwargs
    if "ctx" in signature.parameters:
        if "ctx" in kwargs:
            raise AgentInputError(f"function {input.function!r}: kwargs must not contain 'ctx'")
        kwargs["ctx"] = ctx
    try:
        signature.bind(*input.args, **kwargs)
    except TypeError as e:
        raise AgentInputError(
            f"function {input.function!r} cannot take these arguments: {e}"
        ) from None
    return list(input.args), kwargs


async def _finish(function: str, awaitable: Awaitable[Any]) -> Any:
    try:
        result = await awaitable
    except StepError:
        raise
    except Exception as e:
        raise StepError(f"{type(e).__name__}: {e}", kind="error") from e
    return _checked_output(function, result)


def _checked_output(function: str, result: Any) -> Any:
    try:
        json.dumps(result)
    except (TypeError, ValueError) as e:
        raise StepError(
            f"function {function!r} returned a value that is not JSON-serialisable: {e}",
            kind="output",
            retryable=False,
        ) from e
    return result
