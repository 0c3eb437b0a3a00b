"""Jinja2 expressions in specs: ``{{ params.x }}``, ``{{ steps.<id>.output.x }}``, ``{{ item }}``.

Specs are untrusted code, so two independent layers keep expressions inert:
1. ``check()`` vets the parsed AST against a whitelist before anything runs (no calls, statements,
   ``_`` names or keys, ``**``, unknown filters); validation calls it through ``collect()``.
2. ``render()`` runs in a locked-down ``ImmutableSandboxedEnvironment``: no globals, whitelisted
   filters and tests only, every call refused, ``_`` attributes and keys refused, mapping access
   reads keys (never methods), ``*``/``**``/``%`` intercepted, output sizes capped.
``render()`` also runs the cached static check: a spec that skipped validation cannot loop either.

What one render may build is a budget (``AUTOAGENT_MAX_EXPRESSION_OUTPUT`` characters or items):
every ``*``, ``+``, ``~``, ``join``, ``replace`` and ``tojson`` spends its result's size before it
is built, and a template's output counts too, so a chain of operations that each stay under the
limit cannot add up to gigabytes.
"""

from __future__ import annotations

import contextvars
import functools
import json
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import do_round
from jinja2.runtime import TemplateReference, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from autoagent.errors import ExpressionError
from autoagent.settings import get_settings

ROOTS = frozenset({"params", "steps", "item"})
ALLOWED_FILTERS: frozenset[str] = frozenset(
    {"default", "length", "join", "lower", "upper", "trim", "first", "last", "int", "float"}
    | {"string", "replace", "round", "tojson", "fromjson", "lines", "shquote"}
)
ALLOWED_TESTS: frozenset[str] = frozenset(
    {"defined", "none", "number", "string", "mapping", "sequence", "even", "odd", "true", "false"}
)
MAX_SOURCE = 10_000  # characters of template source
MAX_NUMBER_BITS = 100_000  # an integer product past this (~30,000 digits) is refused
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


# --- run-time sandbox ------------------------------------------------------------------------


_spent: contextvars.ContextVar[list[int]] = contextvars.ContextVar("expression_budget")


def _cap(size: int) -> None:
    """Spend ``size`` of this render's budget before building a result that large."""
    limit = get_settings().max_expression_output
    spent = _spent.get(None)
    total = size + (spent[0] if spent is not None else 0)
    if total > limit:
        raise SecurityError(
            f"result too large: more than {limit} characters or items built"
            " (limit AUTOAGENT_MAX_EXPRESSION_OUTPUT)"
        )
    if spent is not None:
        spent[0] = total


def _concat(parts: Iterable[Any]) -> str:
    """``a ~ b ~ c`` and a template's output: each part's size is spent before joining."""
    texts = [p if isinstance(p, str) else str(p) for p in parts]
    _cap(sum(map(len, texts)))
    return "".join(texts)


def _join(value: Any, d: str = "") -> str:
    parts = [str(v) for v in value]
    _cap(sum(map(len, parts)) + len(str(d)) * max(len(parts) - 1, 0))
    return str(d).join(parts)


def _replace(s: Any, old: str, new: str, count: int | None = None) -> str:
    s, old, new = str(s), str(old), str(new)
    hits = s.count(old) if old else len(s) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    _cap(len(s) + hits * max(len(new) - len(old), 0))
    return s.replace(old, new, -1 if count is None else count)


def _round(value: Any, precision: int = 0, method: str = "common") -> float:
    if not -100 <= precision <= 100:  # round(5, -10**11) would build 10**(10**11)
        raise SecurityError(f"round precision {precision} is out of range (-100..100)")
    return do_round(value, precision, method)


def _tojson(value: Any, indent: int | None = None) -> str:
    """Plain JSON (sorted keys, no HTML escaping: specs feed shells and HTTP, not browsers)."""
    if indent is not None and not 0 <= indent <= 16:
        raise SecurityError(f"tojson indent {indent} is out of range (0..16)")
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, indent=indent)
    _cap(len(text))
    return text


def _shquote(value: Any) -> str:
    """A value as one shell word (a list: one word per item), whatever it holds: the safe way
    to put data in a ``shell`` command. A mapping is quoted as its JSON."""
    if isinstance(value, list | tuple):
        return " ".join(_shquote(v) for v in value) if value else "''"
    if isinstance(value, Mapping):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    elif isinstance(value, bool):
        value = "true" if value else "false"
    elif value is None:
        value = ""
    return shlex.quote(str(value))


def _lines(value: Any) -> list[str]:
    """``"a\\nb\\n"`` -> ``["a", "b"]``: the empty last line is dropped."""
    return str(value).splitlines()


class _Codegen(CodeGenerator):
    """Jinja's code generator with ``~`` routed through the budget (Jinja joins it inline)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox with every door we do not need shut as well."""

    code_generator_class = _Codegen
    concat = staticmethod(_concat)  # a template's output: its parts joined within the budget
    intercepted_binops = frozenset({"*", "**", "%", "+"})  # also stops constant folding

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        raise SecurityError("calls are not allowed")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("the power operator is not allowed")
        if operator == "%":
            if isinstance(left, str):
                raise SecurityError("string formatting with % is not allowed")
            return left % right
        if operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                _cap(len(left) + len(right))
            return left + right
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(n, int):
                _cap(len(seq) * n)
        both_ints = isinstance(left, int) and isinstance(right, int)
        if both_ints and left.bit_length() + right.bit_length() > MAX_NUMBER_BITS:
            raise SecurityError("number too large: the product has more than 30,000 digits")
        return left * right

    def getattr(self, obj: Any, attribute: str) -> Any:
        _refuse_private(attribute)
        if isinstance(obj, Mapping):  # data: `a.items` is the key "items", never dict.items
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                return self.undefined(obj=obj, name=attribute)
        value = super().getattr(obj, attribute)
        if callable(value) and not isinstance(value, Undefined):
            raise SecurityError(f"attribute {attribute!r} is a method; calls are not allowed")
        return value

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, str):  # string keys of data: same rules as attributes
            return self.getattr(obj, argument)
        try:
            return obj[argument]
        except (TypeError, LookupError):
            return self.undefined(obj=obj, name=argument)


def _refuse_private(name: str) -> None:
    if name.startswith("_"):
        raise SecurityError(f"name {name!r} is not allowed: names starting with '_' are forbidden")


def _make_env() -> _Sandbox:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False)
    ours = {"join": _join, "replace": _replace, "round": _round, "tojson": _tojson}
    ours.update(fromjson=json.loads, lines=_lines, shquote=_shquote)
    env.globals = {}  # no range, lipsum, cycler, joiner, namespace, dict
    env.filters = {name: ours.get(name) or env.filters[name] for name in ALLOWED_FILTERS}
    env.tests = {name: env.tests[name] for name in ALLOWED_TESTS}
    return env


_env = _make_env()


# --- static check ----------------------------------------------------------------------------


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
        elif isinstance(node, nodes.Test):
            if node.name not in ALLOWED_TESTS:
                raise ExpressionError(f"test {node.name!r} is not allowed")
        elif isinstance(node, nodes.Mul) and (_is_seq(node.left) or _is_seq(node.right)):
            raise ExpressionError("repeating a string or list literal with * is not allowed")
        elif isinstance(node, nodes.Mod) and _is_str(node.left):
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
            key = _fold(node.arg)
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


def _fold(node: nodes.Expr) -> Any:
    """The value of an already vetted, constant expression; None when it depends on data."""
    try:
        return node.as_const(nodes.EvalContext(_env))
    except Exception:
        return None


def _is_str(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Const) and isinstance(node.value, str)


def _is_seq(node: nodes.Node) -> bool:
    return _is_str(node) or isinstance(node, nodes.List | nodes.Tuple)


def _parse(text: str) -> nodes.Template:
    if len(text) > MAX_SOURCE:
        raise ExpressionError(f"expression too long ({len(text)} > {MAX_SOURCE} characters)")
    if _nesting(text) > MAX_NESTING:  # Jinja's parser recurses: refuse before it would
        raise ExpressionError(f"nested too deeply (more than {MAX_NESTING} levels of brackets)")
    try:
        return _env.parse(text)
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


@functools.lru_cache(maxsize=4096)
def _static_check(text: str) -> ExpressionInfo:
    tree = _parse(text)
    if _operations_deep(tree) > MAX_OPERATIONS_DEEP:
        raise ExpressionError(
            f"nested too deeply (more than {MAX_OPERATIONS_DEEP} operations inside each other)"
        )
    checker = _Checker()
    checker.template(tree)
    return ExpressionInfo(frozenset(checker.steps), frozenset(checker.params), checker.item)


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
            key = current.attr if isinstance(current, nodes.Getattr) else _fold(current.arg)
            parts.append(str(key))
            current = current.node
        if isinstance(current, nodes.Name):
            return ".".join([current.name, *reversed(parts)])
    return "a value"


# --- public API ------------------------------------------------------------------------------


def is_template(text: str) -> bool:
    """Only strings with Jinja markers are templates; everything else is passed through as is."""
    return "{{" in text or "{%" in text


def check(text: str) -> ExpressionInfo:
    """Parse and statically vet one template string, so unsafe specs fail at validation time."""
    return _static_check(text)


def unquoted(text: str) -> list[str]:
    """The data a template puts into its text without ``shquote`` (``params.x``, ``item``...):
    in a shell command, such a value runs as code when it holds ``;``, ``$()`` or a quote."""
    check(text)
    found: list[str] = []
    for output in _parse(text).find_all(nodes.Output):
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData) or _shell_safe(node):
                continue
            if any(n.name in ROOTS for n in node.find_all(nodes.Name)) or (
                isinstance(node, nodes.Name) and node.name in ROOTS
            ):
                found.append(_reference(node))
    return found


def collect(value: Any) -> ExpressionInfo:
    """Check every template string inside a nested spec value and union what they reference.

    Errors are prefixed with the path inside ``value`` (``input.cmd: calls are not allowed``).
    """
    info = ExpressionInfo()

    def visit(path: str, text: str) -> str:
        nonlocal info
        try:
            info |= check(text)
        except ExpressionError as exc:
            raise ExpressionError(f"{path}: {exc}" if path else str(exc)) from None
        return text

    _walk(value, "", visit)
    return info


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every template string inside ``value`` against ``context``.

    A string that is exactly one ``{{ ... }}`` keeps the expression's native type; other template
    strings become ``str``; everything else is returned unchanged (dict keys are never rendered).
    """
    ctx = dict(context)
    return _walk(value, "", lambda path, text: _render_text(text, ctx, path))


def evaluate_condition(text: Any, context: Mapping[str, Any]) -> bool:
    """Decide a ``when``: a bool result stays as is, anything else goes by Python truthiness."""
    result = render(text, context)
    return result if isinstance(result, bool) else bool(result)


# --- helpers ---------------------------------------------------------------------------------


def _walk(value: Any, path: str, on_text: Callable[[str, str], Any]) -> Any:
    """Rebuild ``value`` with each template string replaced by ``on_text(path, text)``."""
    if isinstance(value, str):
        return on_text(path, value) if is_template(value) else value
    if isinstance(value, Mapping):
        return {k: _walk(v, f"{path}.{k}" if path else str(k), on_text) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, f"{path}[{i}]", on_text) for i, v in enumerate(value)]
    return value


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> Callable[..., Any]:
    """A renderer for ``text``: a lone ``{{ ... }}`` is evaluated as an expression (native type),
    anything else is rendered as a template (``str``)."""
    stripped = text.strip()
    tokens = list(_env.lex(stripped))
    kinds = [kind for _, kind, _ in tokens]
    if (
        kinds[:1] == ["variable_begin"]
        and kinds[-1:] == ["variable_end"]
        and kinds.count("variable_begin") == 1
    ):
        inner = stripped[len(tokens[0][2]) : len(stripped) - len(tokens[-1][2])]
        return _env.compile_expression(inner, undefined_to_none=False)
    return _env.from_string(text).render


def _render_text(text: str, context: dict[str, Any], path: str) -> Any:
    where = f"{path}: " if path else ""
    budget = _spent.set([0])
    try:
        _static_check(text)
        result = _compile(text)(**context)
        if isinstance(result, Undefined):
            str(result)  # raises the UndefinedError that names what is missing
        if isinstance(result, TemplateReference):  # `self`: the one object Jinja itself injects
            raise SecurityError("name 'self' is not allowed")
        return result
    except ExpressionError as exc:
        raise ExpressionError(f"{where}{_short(text)}: {exc}") from None
    except Exception as exc:  # sandbox, undefined names and bad filter input all end up here
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise ExpressionError(f"{where}{_short(text)}: {detail}") from exc
    finally:
        _spent.reset(budget)


def _short(text: str) -> str:
    """A template in a message: it may be 10,000 characters of hostile text."""
    return repr(text if len(text) <= 80 else text[:77] + "...")
