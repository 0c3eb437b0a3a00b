"""The expressions of one step: safe, well formed, and referring only to what exists by then.

Each template string is checked on its own, so a problem names the exact field
(``input.args[1]``) and its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from autoagent import expressions
from autoagent.errors import ExpressionError
from autoagent.spec.hints import Suggestions
from autoagent.spec.loader import Loc
from autoagent.spec.shapes import field_name
from autoagent.spec.tree import Node, Visible, ancestors


@dataclass
class Scope:
    """What the expressions of one step may see."""

    params: set[str] | None  # None: unknown (the spec's params are broken themselves)
    deps: Visible  # ids whose outputs the step may reference
    everywhere: dict[str, Node]  # every id of the mission -> its (first) node
    param_hints: Suggestions
    step_hints: Suggestions


def expression_problems(node: Node, scope: Scope) -> list[tuple[Loc, str | None, str]]:
    """(location relative to the step, field, message) for each bad expression of ``node``."""
    f = node.fields
    assert f is not None
    in_group_for_each = any(a.for_each for a in ancestors(node))
    out: list[tuple[Loc, str | None, str]] = []
    for loc, text, item_ok in _templates(node):
        fld = field_name(loc)
        try:
            info = expressions.check(text)
        except ExpressionError as exc:
            what = "malformed" if "syntax error" in str(exc) else "unsafe"
            out.append((loc, fld, f"{what} expression {_short(text)}: {exc}"))
            continue
        for param in sorted(info.param_refs - scope.params if scope.params is not None else ()):
            out.append((loc, fld, f"unknown param {param!r}{scope.param_hints.hint(param)}"))
        own = {f.id} if loc[0] == "compensate" else set()
        for ref in sorted(r for r in info.step_refs - own if r not in scope.deps):
            out.append((loc, fld, _bad_reference(node, ref, scope)))
        if info.uses_item and not (in_group_for_each or (item_ok and f.for_each is not None)):
            out.append(
                (loc, fld, "'item' is only defined in a for_each step or inside a for_each group")
            )
    return out


def _bad_reference(node: Node, ref: str, scope: Scope) -> str:
    target = scope.everywhere.get(ref)
    if target is None:
        return f"references unknown step {ref!r}{scope.step_hints.hint(ref)}"
    if target is node:
        return f"references its own output (steps.{ref}): a step cannot read its own result"
    for group in ancestors(target):
        if group.for_each and group.sid in scope.deps:
            return (
                f"references step {ref!r} inside the for_each group {group.label!r}: its outputs"
                f" are only in steps.{group.label}.output, the list of the group's item outputs"
            )
    return (
        f"references step {ref!r}, which is not a dependency: add it to 'needs'"
        " (directly or through a needed step or group)"
    )


def _templates(node: Node) -> Iterator[tuple[Loc, str, bool]]:
    """(location, template text, whether ``item`` may appear) for each template of a step.

    ``when`` and ``for_each`` are decided once, before a for_each step fans out: no ``item``
    there (unless an enclosing group provides it). Bare ``when``/``for_each`` strings
    (``params.flag``) are one expression.
    """
    f = node.fields
    assert f is not None
    yield from _strings(f.input, ("input",), True)
    yield from _strings(f.params, ("params",), True)
    if f.compensate is not None:
        yield from _strings(f.compensate.input, ("compensate", "input"), True)
    for name in ("when", "for_each"):
        value = getattr(f, name)
        if isinstance(value, str) and not expressions.is_template(value):
            value = "{{ " + value + " }}"
        yield from _strings(value, (name,), False)
    if f.approval is not None:
        yield from _strings(f.approval.title, ("approval", "title"), True)
        yield from _strings(f.approval.description, ("approval", "description"), True)
    if f.wait is not None:
        yield from _strings(f.wait.seconds, ("wait", "seconds"), True)
        yield from _strings(f.wait.until, ("wait", "until"), True)
    if f.event is not None:
        yield from _strings(f.event.key, ("event", "key"), True)


def _strings(value: Any, loc: Loc, item_ok: bool) -> Iterator[tuple[Loc, str, bool]]:
    if isinstance(value, str):
        if expressions.is_template(value):
            yield loc, value, item_ok
    elif isinstance(value, dict):
        for key, sub in value.items():
            yield from _strings(sub, (*loc, key), item_ok)
    elif isinstance(value, list | tuple):
        for i, sub in enumerate(value):
            yield from _strings(sub, (*loc, i), item_ok)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= 60 else text[:57] + "...")


def shell_warnings(node: Node) -> list[tuple[Loc, str | None, str]]:
    """A ``shell`` command that puts a param, a step output or the item into its text unquoted:
    a value holding ``;``, ``$()``, a backtick or a quote would run as shell code."""
    f = node.fields
    assert f is not None
    commands = []
    if f.agent == "shell" and isinstance((f.input or {}).get("command"), str):
        commands.append((("input", "command"), f.input["command"]))  # type: ignore[index]
    if f.compensate is not None and f.compensate.agent == "shell":
        command = f.compensate.input.get("command")
        if isinstance(command, str):
            commands.append((("compensate", "input", "command"), command))
    out: list[tuple[Loc, str | None, str]] = []
    for loc, command in commands:
        if not expressions.is_template(command):
            continue
        try:
            found = expressions.unquoted(command)
        except ExpressionError:
            continue  # reported as a problem already
        for ref in dict.fromkeys(found):
            out.append(
                (
                    loc,
                    field_name(loc),
                    f"the command puts {ref} into its text unquoted: a value holding ; $( ) `"
                    f" or a quote would run as shell code. Write {{{{ {ref} | shquote }}}}, or"
                    ' pass it in `env:` and read it as "$NAME"',
                )
            )
    return out
