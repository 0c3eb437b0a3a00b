"""Jinja2 expressions in specs: ``{{ params.x }}``, ``{{ steps.<id>.output.x }}``, ``{{ item }}``.

Specs are untrusted code, so two independent layers keep expressions inert:
1. ``check()`` vets the parsed AST against a whitelist before anything runs (``static.py``);
   validation calls it through ``collect()``.
2. ``render()`` runs in a locked-down sandbox with one budget per render for what it may build
   (``sandbox.py``). ``render()`` also runs the cached static check: a spec that skipped
   validation cannot loop either.

``unquoted()`` tells which data a shell command would paste into its text unquoted (``shell.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from jinja2.runtime import TemplateReference, Undefined
from jinja2.sandbox import SecurityError

from autoagent.errors import ExpressionError
from autoagent.expressions.sandbox import ALLOWED_FILTERS, ALLOWED_TESTS, env, spent
from autoagent.expressions.shell import unquoted
from autoagent.expressions.static import ROOTS, ExpressionInfo, static_check

__all__ = [
    "ALLOWED_FILTERS",
    "ALLOWED_TESTS",
    "ROOTS",
    "ExpressionInfo",
    "check",
    "collect",
    "evaluate_condition",
    "is_template",
    "render",
    "unquoted",
]


def is_template(text: str) -> bool:
    """Only strings with Jinja markers are templates; everything else is passed through as is."""
    return "{{" in text or "{%" in text


def check(text: str) -> ExpressionInfo:
    """Parse and statically vet one template string, so unsafe specs fail at validation time."""
    return static_check(text)


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
    tokens = list(env.lex(stripped))
    kinds = [kind for _, kind, _ in tokens]
    if (
        kinds[:1] == ["variable_begin"]
        and kinds[-1:] == ["variable_end"]
        and kinds.count("variable_begin") == 1
    ):
        inner = stripped[len(tokens[0][2]) : len(stripped) - len(tokens[-1][2])]
        return env.compile_expression(inner, undefined_to_none=False)
    return env.from_string(text).render


def _render_text(text: str, context: dict[str, Any], path: str) -> Any:
    where = f"{path}: " if path else ""
    budget = spent.set([0])
    try:
        static_check(text)
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
        spent.reset(budget)


def _short(text: str) -> str:
    """A template in a message: it may be 10,000 characters of hostile text."""
    return repr(text if len(text) <= 80 else text[:77] + "...")
