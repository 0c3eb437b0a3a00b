"""The static check: a parsed template vetted against a whitelist before anything runs.

No calls, statements, ``_`` names or keys, ``**``, unknown filters; nesting and size bounded
before Jinja's recursive parser sees the text; the parts that use no data are tried in the
sandbox, so a literal bomb (``('a' ~ 'b') * 10**9``) fails validation rather than the run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SecurityError

from autoagent.errors import ExpressionError
from autoagent.expressions.sandbox import (
    ALLOWED_FILTERS,
    ALLOWED_TESTS,
    env,
    folding,
    round_filter,
    spent,
    tojson_filter,
)

ROOTS = frozenset({"params", "steps", "item"})
MAX_SOURCE = 10_000  # characters of template source
MAX_NESTING = 50  # levels of brackets in one expression (beyond `{{ }}` itself)
MAX_OPERATIONS_DEEP = 100  # operations inside each other (`a + b + c ...`, `x.a.b.c ...`)


@dataclass(frozen=True)
class ExpressionInfo:
    """What a template refers to, so validation can check ``needs`` and declared params."""

    step_refs: frozenset[str] = frozenset()
    param_refs: frozenset[str] = frozenset()
    uses_item: bool = False

    def __or__(self, other: ExpressionInfo) -> ExpressionInfo:
        return ExpressionInfo(
            self.step_refs | other.step_refs,
            self.param_refs | other.param_refs,
            self.uses_item or other.uses_item,
        )


# Nodes that are safe in themselves: their children are checked one by one.
_PLAIN = (nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair, nodes.Keyword, nodes.Compare)
_PLAIN += (nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Concat)
_PLAIN += (nodes.CondExpr, nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod)
_FORBIDDEN = {
    nodes.Call: "calls are not allowed",
    nodes.Slice: "slices are not allowed",
    nodes.Pow: "the power operator ** is not allowed",
}
_UNDERSCORE = "names starting with '_' are forbidden"


class _Checker:
    """Walks one parsed template; raises ExpressionError on the first thing not whitelisted."""

    def __init__(self) -> None:
        self.steps: set[str] = set()
        self.params: set[str] = set()
        self.item = False

    def template(self, tree: nodes.Template) -> None:
        for stmt in tree.body:
            if not isinstance(stmt, nodes.Output):
                raise ExpressionError("statements ({% ... %}) are not allowed")
            for node in stmt.nodes:
                if not isinstance(node, nodes.TemplateData):
                    self.expr(node)

    def expr(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Const):
            return
        if isinstance(node, nodes.Name):
            return self.name(node)
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            return self.access(node)
        if isinstance(node, nodes.Filter):
            if node.name not in ALLOWED_FILTERS:
                raise ExpressionError(f"filter {node.name!r} is not allowed")
            _check_arguments(node)
        elif isinstance(node, nodes.Test):
            if node.name not in ALLOWED_TESTS:
                raise ExpressionError(f"test {node.name!r} is not allowed")
        elif isinstance(node, nodes.Mul) and (_is_seq(node.left) or _is_seq(node.right)):
            raise ExpressionError("repeating a string or list literal with * is not allowed")
        elif isinstance(node, nodes.Mod) and _makes_str(node.left):
            raise ExpressionError("string formatting with % is not allowed")
        elif not isinstance(node, _PLAIN):
            name = type(node).__name__
            raise ExpressionError(_FORBIDDEN.get(type(node), f"{name} expressions are not allowed"))
        for child in node.iter_child_nodes():
            self.expr(child)

    def name(self, node: nodes.Name) -> None:
        if node.name.startswith("_"):
            raise ExpressionError(f"name {node.name!r} is not allowed: {_UNDERSCORE}")
        if node.name not in ROOTS or node.ctx != "load":
            raise ExpressionError(f"unknown name {node.name!r}: only params, steps and item")
        if node.name == "steps":
            raise ExpressionError("'steps' must be followed by a step id: steps.<id>.output")
        self.item = self.item or node.name == "item"

    def access(self, node: nodes.Getattr | nodes.Getitem) -> None:
        if isinstance(node, nodes.Getattr):
            key: Any = node.attr
        elif isinstance(node.arg, nodes.Slice):
            raise ExpressionError(_FORBIDDEN[nodes.Slice])
        elif isinstance(node.arg, nodes.Const):
            key = node.arg.value
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise ExpressionError(f"subscript {key!r} is not allowed: use a string or integer")
        else:  # a computed key: vet it, then fold it if it is constant ('_' ~ '_class__')
            self.expr(node.arg)
            key = fold(node.arg)
        if isinstance(key, str) and key.startswith("_"):
            raise ExpressionError(f"name {key!r} is not allowed: {_UNDERSCORE}")
        base = node.node
        if not _is_path(base):
            raise ExpressionError(
                "attribute and item access is only allowed on params, steps and item"
            )
        if isinstance(base, nodes.Name) and base.name == "steps":
            if not isinstance(key, str):
                raise ExpressionError("'steps' must be followed by a literal step id")
            self.steps.add(key)
            return
        if isinstance(base, nodes.Name) and base.name == "params" and isinstance(key, str):
            self.params.add(key)
        self.expr(base)


def _is_path(node: nodes.Node) -> bool:
    """A value reached from a root name, maybe through filters: ``(steps.a.output|fromjson).x``."""
    if isinstance(node, nodes.Name):
        return True
    if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Filter):
        return node.node is not None and _is_path(node.node)
    return False


def fold(node: nodes.Expr) -> Any:
    """The value of an already vetted, constant expression; None when it depends on data."""
    try:
        return node.as_const(nodes.EvalContext(folding))
    except Exception:
        return None


def _is_str(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Const) and isinstance(node.value, str)


# Filters whose arguments are bounded: tried with a neutral value when the arguments are literal.
_BOUNDED_ARGUMENTS: dict[str, Callable[..., Any]] = {
    "round": lambda *args, **kwargs: round_filter(0, *args, **kwargs),
    "tojson": lambda *args, **kwargs: tojson_filter(None, *args, **kwargs),
}


def _check_arguments(node: nodes.Filter) -> None:
    """``round(-10**11)`` or ``tojson(indent=10**8)`` written literally fails validation."""
    attempt = _BOUNDED_ARGUMENTS.get(node.name)
    if attempt is None or node.dyn_args or node.dyn_kwargs:
        return
    context = nodes.EvalContext(folding)
    try:
        args = [a.as_const(context) for a in node.args]
        kwargs = {k.key: k.value.as_const(context) for k in node.kwargs}
    except Exception:  # not literal (nodes.Impossible): the run checks them
        return
    try:
        attempt(*args, **kwargs)
    except SecurityError as exc:
        raise ExpressionError(str(exc)) from None
    except Exception:
        pass


_STR_FILTERS = frozenset({"lower", "upper", "trim", "string", "replace", "join", "tojson"})


def _makes_str(node: nodes.Node) -> bool:
    """Whether an expression surely gives a string (``'%s' | lower``, ``a ~ b``)."""
    if isinstance(node, nodes.Filter) and node.name in _STR_FILTERS | {"shquote"}:
        return True
    return _is_str(node) or isinstance(node, nodes.Concat)


def _constant_parts(tree: nodes.Template) -> list[nodes.Expr]:
    """The largest parts of a template that use no data (no ``params``, ``steps`` or ``item``)
    and do some work: they give the same result on every run, so validation can try them."""
    found: list[nodes.Expr] = []
    todo: list[nodes.Node] = [tree]
    while todo:
        node = todo.pop()
        works = isinstance(node, nodes.Expr) and not isinstance(
            node, nodes.Const | nodes.TemplateData
        )
        if works and next(node.find_all(nodes.Name), None) is None:
            found.append(node)
            continue
        todo.extend(node.iter_child_nodes())
    return found


def _try_constants(tree: nodes.Template) -> None:
    """Run each data-free part in the sandbox, within the budget: ``('a' ~ 'b') * 10**9`` or
    ``1 | round(-10**11)`` fails validation, not the run. Other errors (``1 / 0``) are left to
    the run, which reports them with the step."""
    for part in _constant_parts(tree):
        template = nodes.Template([nodes.Output([part], lineno=1)], lineno=1)
        template.set_environment(env)
        budget = spent.set([0])
        try:
            code = env.compile(template)
            env.template_class.from_code(env, code, env.make_globals(None)).render()
        except SecurityError as exc:
            raise ExpressionError(str(exc)) from None
        except Exception:
            pass
        finally:
            spent.reset(budget)


def _is_seq(node: nodes.Node) -> bool:
    return _is_str(node) or isinstance(node, nodes.List | nodes.Tuple)


def parse(text: str) -> nodes.Template:
    if len(text) > MAX_SOURCE:
        raise ExpressionError(f"expression too long ({len(text)} > {MAX_SOURCE} characters)")
    if _nesting(text) > MAX_NESTING:  # Jinja's parser recurses: refuse before it would
        raise ExpressionError(f"nested too deeply (more than {MAX_NESTING} levels of brackets)")
    try:
        return env.parse(text)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"syntax error (line {exc.lineno}): {exc.message}") from None
    except RecursionError:  # operators chained past reason (`not not not ...`)
        raise ExpressionError("nested too deeply for the expression parser") from None
    except (ValueError, OverflowError) as exc:  # a number literal Python will not convert
        detail = "a number has more than 4300 digits" if "digits" in str(exc) else str(exc)
        raise ExpressionError(f"syntax error: {detail}") from None


def _nesting(text: str) -> int:
    """The deepest nesting of brackets in ``text`` (quotes ignored: an upper bound is enough)."""
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _operations_deep(tree: nodes.Node) -> int:
    """How deep the parsed template nests (iteratively: the checker itself recurses)."""
    deepest, todo = 0, [(tree, 0)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


def static_check(text: str) -> ExpressionInfo:
    """What a template refers to; ExpressionError when it is not allowed (both cached: a spec
    may hold the same rejected expression in thousands of steps)."""
    info, refused = _checked(text)
    if refused is not None:
        raise ExpressionError(refused)
    assert info is not None
    return info


@functools.lru_cache(maxsize=4096)
def _checked(text: str) -> tuple[ExpressionInfo | None, str | None]:
    try:
        tree = parse(text)
        if _operations_deep(tree) > MAX_OPERATIONS_DEEP:
            raise ExpressionError(
                f"nested too deeply (more than {MAX_OPERATIONS_DEEP} operations inside each other)"
            )
        checker = _Checker()
        checker.template(tree)
        _try_constants(tree)
    except ExpressionError as exc:
        return None, str(exc)
    return ExpressionInfo(frozenset(checker.steps), frozenset(checker.params), checker.item), None
