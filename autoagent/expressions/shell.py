"""Shell safety: which data a template pastes into a command's text unquoted."""

from __future__ import annotations

from jinja2 import nodes

from autoagent.expressions.static import ROOTS, fold, parse, static_check

# Expressions whose output cannot carry shell syntax: numbers, booleans and quoted words.
_SHELL_SAFE_FILTERS = frozenset({"shquote", "int", "float", "round", "length"})


def _shell_safe(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Const):
        return True
    if isinstance(node, nodes.Filter):
        return node.name in _SHELL_SAFE_FILTERS
    if isinstance(node, nodes.Test | nodes.Compare | nodes.Not):
        return True  # true or false
    if isinstance(node, nodes.CondExpr):
        return _shell_safe(node.expr1) and (node.expr2 is None or _shell_safe(node.expr2))
    if isinstance(node, nodes.And | nodes.Or | nodes.BinExpr):
        return _shell_safe(node.left) and _shell_safe(node.right)
    if isinstance(node, nodes.Concat):
        return all(_shell_safe(part) for part in node.nodes)
    return False


def _reference(node: nodes.Node) -> str:
    """How the first data reference inside ``node`` is written (``params.x``, ``item``...)."""
    for found in [node, *node.find_all((nodes.Getattr, nodes.Getitem, nodes.Name))]:
        parts: list[str] = []
        current = found
        while isinstance(current, nodes.Getattr | nodes.Getitem):
            key = current.attr if isinstance(current, nodes.Getattr) else fold(current.arg)
            parts.append(str(key))
            current = current.node
        if isinstance(current, nodes.Name):
            return ".".join([current.name, *reversed(parts)])
    return "a value"


def unquoted(text: str) -> list[str]:
    """The data a template puts into its text without ``shquote`` (``params.x``, ``item``...):
    in a shell command, such a value runs as code when it holds ``;``, ``$()`` or a quote."""
    static_check(text)
    found: list[str] = []
    for output in parse(text).find_all(nodes.Output):
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData) or _shell_safe(node):
                continue
            if any(n.name in ROOTS for n in node.find_all(nodes.Name)) or (
                isinstance(node, nodes.Name) and node.name in ROOTS
            ):
                found.append(_reference(node))
    return found
