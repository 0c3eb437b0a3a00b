"""The run-time sandbox: a locked-down ``ImmutableSandboxedEnvironment`` and the budget of what
one render may build.

No globals, whitelisted filters and tests only, every call refused, ``_`` attributes and keys
refused, mapping access reads keys (never methods), ``*``/``**``/``%``/``+`` intercepted. Every
``*``, ``+``, ``~``, ``join``, ``replace`` and ``tojson`` spends its result's size from one budget
per render (``AUTOAGENT_MAX_EXPRESSION_OUTPUT`` characters or items) before it is built, and a
template's output counts too, so operations that each stay small cannot add up to gigabytes.
"""

from __future__ import annotations

import contextvars
import json
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import do_round
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from autoagent.settings import get_settings

ALLOWED_FILTERS: frozenset[str] = frozenset(
    {"default", "length", "join", "lower", "upper", "trim", "first", "last", "int", "float"}
    | {"string", "replace", "round", "tojson", "fromjson", "lines", "shquote"}
)
ALLOWED_TESTS: frozenset[str] = frozenset(
    {"defined", "none", "number", "string", "mapping", "sequence", "even", "odd", "true", "false"}
)
MAX_NUMBER_BITS = 100_000  # an integer product past this (~30,000 digits) is refused


spent: contextvars.ContextVar[list[int]] = contextvars.ContextVar("expression_budget")


def spend(size: int) -> None:
    """Spend ``size`` of this render's budget before building a result that large."""
    limit = get_settings().max_expression_output
    used = spent.get(None)
    total = size + (used[0] if used is not None else 0)
    if total > limit:
        raise SecurityError(
            f"result too large: more than {limit} characters or items built"
            " (limit AUTOAGENT_MAX_EXPRESSION_OUTPUT)"
        )
    if used is not None:
        used[0] = total


def _concat(parts: Iterable[Any]) -> str:
    """``a ~ b ~ c`` and a template's output: each part's size is spent before joining."""
    texts = [p if isinstance(p, str) else str(p) for p in parts]
    spend(sum(map(len, texts)))
    return "".join(texts)


def _join(value: Any, d: str = "") -> str:
    parts = [str(v) for v in value]
    spend(sum(map(len, parts)) + len(str(d)) * max(len(parts) - 1, 0))
    return str(d).join(parts)


def _replace(s: Any, old: str, new: str, count: int | None = None) -> str:
    s, old, new = str(s), str(old), str(new)
    hits = s.count(old) if old else len(s) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    spend(len(s) + hits * max(len(new) - len(old), 0))
    return s.replace(old, new, -1 if count is None else count)


def round_filter(value: Any, precision: int = 0, method: str = "common") -> float:
    if not -100 <= precision <= 100:  # round(5, -10**11) would build 10**(10**11)
        raise SecurityError(f"round precision {precision} is out of range (-100..100)")
    return do_round(value, precision, method)


def tojson_filter(value: Any, indent: int | None = None) -> str:
    """Plain JSON (sorted keys, no HTML escaping: specs feed shells and HTTP, not browsers)."""
    if indent is not None and not 0 <= indent <= 16:
        raise SecurityError(f"tojson indent {indent} is out of range (0..16)")
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, indent=indent)
    spend(len(text))
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
                spend(len(left) + len(right))
            return left + right
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(n, int):
                spend(len(seq) * n)
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


class _Folding(_Sandbox):
    """For folding a vetted constant key at validation (``'__cla' + 'ss__'``): ``+`` of
    literals is bounded by the source's length, so only the growing operators stay refused."""

    intercepted_binops = frozenset({"*", "**", "%"})


def _make_env(kind: type[_Sandbox] = _Sandbox) -> _Sandbox:
    env = kind(undefined=StrictUndefined, autoescape=False)
    ours = {"join": _join, "replace": _replace, "round": round_filter, "tojson": tojson_filter}
    ours.update(fromjson=json.loads, lines=_lines, shquote=_shquote)
    env.globals = {}  # no range, lipsum, cycler, joiner, namespace, dict
    env.filters = {name: ours.get(name) or env.filters[name] for name in ALLOWED_FILTERS}
    env.tests = {name: env.tests[name] for name in ALLOWED_TESTS}
    return env


env = _make_env()
folding = _make_env(_Folding)
