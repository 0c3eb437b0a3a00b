"""Expressions: typed rendering, reference collection, and the two sandbox layers."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from autoagent import expressions
from autoagent.errors import ExpressionError
from autoagent.expressions import (
    ALLOWED_FILTERS,
    ROOTS,
    ExpressionInfo,
    check,
    collect,
    evaluate_condition,
    is_template,
    render,
)

CTX: dict[str, Any] = {
    "params": {
        "items": [1, 2, 3],
        "flag": True,
        "n": 3,
        "name": "  Ada  ",
        "words": ["a", "b", "c"],
        "text": "a\nb\n",
        "json": '{"k": [1, 2]}',
        "pi": 3.14159,
        "num": "42",
        "none": None,
        "k": "__class__",
        "key": "n",
    },
    "steps": {
        "a": {"output": {"x": 5, "rows": [10, 20, 30], "_private": "secret", "nested": {"y": 1}}},
        "b": {"output": [{"id": 7}]},
        "c": {"output": "plain"},
    },
    "item": {"name": "it", "size": 2},
}


def test_public_constants() -> None:
    assert {"params", "steps", "item"} == ROOTS
    assert {"default", "tojson", "fromjson", "lines", "replace"} <= ALLOWED_FILTERS
    assert "attr" not in ALLOWED_FILTERS and "map" not in ALLOWED_FILTERS


@pytest.mark.parametrize(
    ("text", "expected"),
    [("plain", False), ("{{ x }}", True), ("{% if x %}{% endif %}", True), ("{ x }", False)],
)
def test_is_template(text: str, expected: bool) -> None:
    assert is_template(text) is expected


# --- typed rendering -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ params.items }}", [1, 2, 3]),  # the key "items", not dict.items
        ("{{ params.flag }}", True),
        (" {{ params.n }} ", 3),
        ("\n{{ params.n }}\n", 3),
        ("{{ params.none }}", None),
        ("{{ steps.a.output.nested }}", {"y": 1}),
        ("n={{ params.n }}", "n=3"),
        ("{{ params.n }}{{ params.n }}", "33"),
        ("{{ params.flag }} ok", "True ok"),
        ("{{ steps.a.output.x }}", 5),
        ("{{ steps.a.output.rows[1] }}", 20),
        ("{{ steps.a.output['rows'][0] }}", 10),
        ("{{ steps.a.output.rows.2 }}", 30),
        ("{{ steps.b.output[0].id }}", 7),
        ("{{ steps.c.output }}", "plain"),
        ("{{ item }}", {"name": "it", "size": 2}),
        ("{{ item.name }}", "it"),
        ("{{ params[params.key] }}", 3),
        ("{{ [params.n, item.size] }}", [3, 2]),
        ("{{ {'a': params.n} }}", {"a": 3}),
        ("{{ (1, 2) }}", (1, 2)),
        ("{{ params.n + 1 }}", 4),
        ("{{ params.n - 1 }}", 2),
        ("{{ params.n * 2 }}", 6),
        ("{{ params.n / 2 }}", 1.5),
        ("{{ params.n // 2 }}", 1),
        ("{{ params.n % 2 }}", 1),
        ("{{ -params.n }}", -3),
        ("{{ params.n ~ 'x' }}", "3x"),
        ("{{ params.words * 2 }}", ["a", "b", "c", "a", "b", "c"]),
    ],
)
def test_render_typed(text: str, expected: Any) -> None:
    result = render(text, CTX)
    assert result == expected
    assert type(result) is type(expected)


def test_render_nested_structures() -> None:
    spec = {
        "cmd": "echo {{ params.n }}",
        "args": ["{{ params.items }}", {"deep": "{{ item.size }}"}, 7, None],
        "{{ not_a_template_key }}": "kept",
        "flag": False,
    }
    assert render(spec, CTX) == {
        "cmd": "echo 3",
        "args": [[1, 2, 3], {"deep": 2}, 7, None],
        "{{ not_a_template_key }}": "kept",
        "flag": False,
    }


def test_non_templates_unchanged() -> None:
    obj = object()
    assert render(obj, CTX) is obj
    assert render("no braces", CTX) == "no braces"
    assert render(5, CTX) == 5


def test_rendered_output_is_not_rendered_again() -> None:
    ctx = {"params": {"evil": "{{ params.__class__ }}"}}
    assert render("{{ params.evil }}", ctx) == "{{ params.__class__ }}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ params.missing|default('d') }}", "d"),
        ("{{ params.none|default('d', true) }}", "d"),
        ("{{ params.items|length }}", 3),
        ("{{ params.words|join(',') }}", "a,b,c"),
        ("{{ params.words|join }}", "abc"),
        ("{{ params.name|lower }}", "  ada  "),
        ("{{ params.name|upper }}", "  ADA  "),
        ("{{ params.name|trim }}", "Ada"),
        ("{{ params.items|first }}", 1),
        ("{{ params.items|last }}", 3),
        ("{{ params.num|int }}", 42),
        ("{{ params.num|float }}", 42.0),
        ("{{ params.n|string }}", "3"),
        ("{{ params.name|trim|replace('A', 'E') }}", "Eda"),
        ("{{ params.pi|round(2) }}", 3.14),
        ("{{ steps.a.output.nested|tojson }}", '{"y": 1}'),
        ("{{ params.json|fromjson }}", {"k": [1, 2]}),
        ("{{ (params.json|fromjson).k[1] }}", 2),
        ("{{ params.text|lines }}", ["a", "b"]),
        ("{{ 'a\\n\\nb'|lines }}", ["a", "", "b"]),
        ("{{ params.items|join(params.words|first) }}", "1a2a3"),
    ],
)
def test_filters(text: str, expected: Any) -> None:
    assert render(text, CTX) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ params.n == 3 }}", True),
        ("{{ params.n != 3 }}", False),
        ("{{ params.n < 4 and params.n >= 3 }}", True),
        ("{{ params.n > 4 or params.flag }}", True),
        ("{{ not params.flag }}", False),
        ("{{ 2 in params.items }}", True),
        ("{{ 9 not in params.items }}", True),
        ("{{ 'b' in params.words }}", True),
        ("{{ 'yes' if params.flag else 'no' }}", "yes"),
        ("{{ 'yes' if params.n > 5 else 'no' }}", "no"),
        ("{{ params.missing is defined }}", False),
        ("{{ params.none is none }}", True),
        ("{{ params.n is number }}", True),
        ("{{ params.n is odd }}", True),
        ("{{ params.items is sequence }}", True),
        ("{{ item is mapping }}", True),
    ],
)
def test_logic(text: str, expected: Any) -> None:
    result = render(text, CTX)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ params.flag }}", True),
        ("{{ params.n > 5 }}", False),
        ("{{ params.items }}", True),
        ("{{ [] }}", False),
        ("{{ params.none }}", False),
        ("{{ '' }}", False),
        (True, True),
        (False, False),
    ],
)
def test_evaluate_condition(text: Any, expected: bool) -> None:
    assert evaluate_condition(text, CTX) is expected


# --- collect / check -------------------------------------------------------------------------


def test_collect_references() -> None:
    spec = {
        "cmd": "run {{ steps.build.output.path }} --n {{ params.n }}",
        "list": ["{{ item.x }}", {"deep": "{{ steps['test'].output|default(params.fallback) }}"}],
        "cond": "{{ 'a' if steps.lint.output.ok else params.other }}",
        "filtered": "{{ params.words|join(steps.sep.output) }}",
        "plain": "steps.not_a_ref",
        "num": 3,
    }
    assert collect(spec) == ExpressionInfo(
        step_refs=frozenset({"build", "test", "lint", "sep"}),
        param_refs=frozenset({"n", "fallback", "other", "words"}),
        uses_item=True,
    )


def test_collect_nothing() -> None:
    assert collect({"a": ["x", 1, None]}) == ExpressionInfo(frozenset(), frozenset(), False)
    assert check("{{ params.a }}").uses_item is False


def test_collect_dynamic_param_key_records_inner_ref() -> None:
    info = check("{{ params[params.k] }}")
    assert info.param_refs == {"k"}


def test_collect_error_names_path() -> None:
    with pytest.raises(ExpressionError, match=r"^input\.cmd: calls are not allowed"):
        collect({"input": {"cmd": "{{ params.x() }}"}})
    with pytest.raises(ExpressionError, match=r"^input\.args\[1\]\.a: unknown name 'os'"):
        collect({"input": {"args": ["ok", {"a": "{{ os }}"}]}})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ params.__class__ }}", "name '__class__' is not allowed: names starting with '_'"),
        ("{{ _x }}", "name '_x' is not allowed: names starting with '_'"),
        ("{{ params.x() }}", "calls are not allowed"),
        ("{{ params|attr('x') }}", "filter 'attr' is not allowed"),
        ("{{ params is callable }}", "test 'callable' is not allowed"),
        ("{% if params %}{% endif %}", r"statements \(\{% ... %\}\) are not allowed"),
        ("{{ os }}", "unknown name 'os': only params, steps and item"),
        ("{{ params.x[1:2] }}", "slices are not allowed"),
        ("{{ 2 ** 3 }}", r"power operator \*\* is not allowed"),
        ("{{ 'ab' * 3 }}", r"repeating a string or list literal with \* is not allowed"),
        ("{{ '%d' % 3 }}", "string formatting with % is not allowed"),
        ("{{ steps }}", "'steps' must be followed by a step id"),
        ("{{ steps[params.x].output }}", "'steps' must be followed by a literal step id"),
        ("{{ 'abc'.upper }}", "only allowed on params, steps and item"),
        ("{{ params.x ", "syntax error"),
        ("{{ params.x }}" + " " * 10_000, "too long"),
    ],
)
def test_check_messages(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        check(text)


# --- runtime errors --------------------------------------------------------------------------


def test_undefined_names_the_expression() -> None:
    with pytest.raises(ExpressionError, match=r"\{\{ params\.missing \}\}.*missing"):
        render("{{ params.missing }}", CTX)
    with pytest.raises(ExpressionError, match=r"^cmd: 'x=\{\{ params\.missing \}\}'"):
        render({"cmd": "x={{ params.missing }}"}, CTX)


def test_bad_filter_input() -> None:
    with pytest.raises(ExpressionError, match="fromjson"):
        render("{{ params.name|fromjson }}", CTX)


def test_dynamic_underscore_key_refused_at_runtime() -> None:
    check("{{ params[params.k] }}")  # statically fine: the key is data
    with pytest.raises(ExpressionError, match="__class__"):
        render("{{ params[params.k] }}", CTX)


def test_private_output_key_refused() -> None:
    ctx = {**CTX, "params": {**CTX["params"], "k": "_private"}}
    with pytest.raises(ExpressionError, match="_private"):
        render("{{ steps.a.output[params.k] }}", ctx)
    with pytest.raises(ExpressionError, match="_private"):
        check("{{ steps.a.output._private }}")
    assert render("{{ steps.a.output.x }}", ctx) == 5


@pytest.mark.parametrize(
    "text",
    [
        "{{ params.words|replace('', params.name * 1000)|replace('a', params.name * 1000) }}",
        "{{ params.name * 100000000 }}",
        "{{ params.words|join(params.name * 100000) }}",
    ],
)
def test_size_caps(text: str) -> None:
    check(text)
    with pytest.raises(ExpressionError, match="too large"):
        render(text, CTX)


@pytest.mark.parametrize(
    "text", ["{{ params.n|round(-99999999999) }}", "{{ params|tojson(indent=100000000) }}"]
)
def test_argument_caps(text: str) -> None:
    with pytest.raises(ExpressionError, match="out of range"):
        check(text)  # literal arguments: refused at validation
    with pytest.raises(ExpressionError, match="out of range"):
        render(text, CTX)
    computed = text.replace("-99999999999", "params.n * -99999999999")
    computed = computed.replace("indent=100000000", "indent=params.n * 100000000")
    check(computed)  # computed arguments: refused when the run renders them
    with pytest.raises(ExpressionError, match="out of range"):
        render(computed, CTX)


# --- escape attempts -------------------------------------------------------------------------

# SENTINEL is replaced by a file path in tmp_path when rendering with the static check bypassed.
PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__ }}",
    "{{ params.__class__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ cycler.__init__.__globals__.os.popen('touch SENTINEL').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ lipsum.__globals__['os'].system('touch SENTINEL') }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    "{{ ()|attr('__class__') }}",
    r"{{ params|attr('\x5f\x5fclass\x5f\x5f') }}",
    "{{ ''['__cla'+'ss__'] }}",
    "{{ params['_' ~ '_class__'] }}",
    "{{ params['x_x_class__'|replace('x', '')] }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{% endfor %}",
    "{% set x = 1 %}",
    "{% import 'os' as os %}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
    "{% macro m() %}{% endmacro %}",
    "{% filter upper %}x{% endfilter %}",
    "{% with a = params %}{{ a }}{% endwith %}",
    "{{ 'a' * 100000000 }}",
    "{{ [1] * 100000000 }}",
    "{{ 9**9**9 }}",
    "{{ '%s' % params }}",
    "{{ '%(x)s' % params }}",
    "{{ '{0.__class__}'.format(params) }}",
    "{{ params.items() }}",
    "{{ steps.keys() }}",
    "{{ range(10**9)|list }}",
    "{{ params|map(attribute='__class__')|list }}",
    "{{ params|format('x') }}",
    "{{ x.__dict__ }}",
    "{{ item.mro() }}",
    "{{ [].pop() }}",
    "{{ params.update({}) }}",
    "{{ ''.join }}",
    r"{{ params['\u005f\u005fclass\u005f\u005f'] }}",
    "{{ params['__class__'] }}",
    "{{ params.__init__.__globals__ }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ url_for.__globals__.os.popen('touch SENTINEL').read() }}",
    "{{ get_flashed_messages.__globals__['__builtins__'] }}",
    "{{ request['application']['__globals__']['__builtins__']['__import__']('os') }}",
    "{{ ().__class__.__bases__[0].__subclasses__()[59].__init__.__globals__ }}",
    "{{ params|attr('__cla' ~ 'ss__')|attr('__mro__') }}",
    "{{ item|attr(['_', '_class_', '_']|join) }}",
    "{{ os.system('touch SENTINEL') }}",
    "{{ __import__('os').system('touch SENTINEL') }}",
    "{{ dict(a=1) }}",
    "{{ {}.__class__ }}",
    "{{ params|select('defined')|list }}",
    "{{ params.name|center(999999999) }}",
    "{{ params.name|indent(999999999) }}",
    "{{ params.items|batch(1000000000) }}",
    "{{ params.name|string|attr('format') }}",
    "{{ params.items[::-1] }}",
    "{{ loop.cycle }}",
    "{{ params is sameas params }}",
    "{{ steps.a.output._private }}",
    "{{ steps.a.output['_private'] }}",
    "{{ lipsum }}",
    "{{ self }}",
]


def test_enough_payloads() -> None:
    assert len(PAYLOADS) >= 40
    assert len(set(PAYLOADS)) == len(PAYLOADS)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_check_rejects_payload(payload: str) -> None:
    with pytest.raises(ExpressionError):
        check(payload)
    with pytest.raises(ExpressionError):
        collect({"input": {"cmd": payload}})


@pytest.fixture
def no_exec(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record any attempt to reach the OS, and switch off the static check."""
    calls: list[str] = []

    def recorder(name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            calls.append(name)
            raise AssertionError(f"{name} was called")

        return record

    monkeypatch.setattr(os, "system", recorder("os.system"))
    monkeypatch.setattr(os, "popen", recorder("os.popen"))
    monkeypatch.setattr(subprocess, "Popen", recorder("subprocess.Popen"))
    monkeypatch.setattr(expressions, "static_check", lambda text: ExpressionInfo())
    return calls


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sandbox_alone_executes_nothing(payload: str, no_exec: list[str], tmp_path: Any) -> None:
    sentinel = tmp_path / "pwned"
    text = payload.replace("SENTINEL", str(sentinel))
    try:
        result = render(text, CTX)
    except ExpressionError:
        result = None
    assert no_exec == []
    assert not sentinel.exists()
    assert list(tmp_path.iterdir()) == []
    # Whatever got through is plain text or the context's own data, never an object or method.
    assert _is_plain(result), result


def _is_plain(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return value is None or isinstance(value, bool | int | float | str)


def test_render_runs_static_check_too() -> None:
    with pytest.raises(ExpressionError, match="statements"):
        render("{% set x = 1 %}", CTX)


# --- what one render may build --------------------------------------------------------------

_BIG = {"params": {"s": "x" * 10, "l": [1] * 10, "n": 10**4000}, "steps": {}}


@pytest.mark.parametrize(
    "template",
    [
        "{{ " + " ~ ".join(["(params.s * 99999)"] * 450) + " }}",  # each part under the limit
        "{{ " + " + ".join(["(params.l * 9999)"] * 40) + " }}",  # list + chains
        " ".join(["{{ params.s * 99999 }}"] * 20),  # a template's output adds up
        "{{ (params.l * 99999) | tojson }}",
        "{{ [params.l * 99999, params.l * 99999] | join }}",
    ],
)
def test_what_one_render_builds_is_capped_in_total(template: str) -> None:
    with pytest.raises(ExpressionError, match="limit AUTOAGENT_MAX_EXPRESSION_OUTPUT"):
        render({"x": template}, _BIG)


def test_the_output_budget_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from autoagent.settings import get_settings

    template = {"x": "{{ params.s * 100 }}"}
    assert len(render(template, _BIG)["x"]) == 1000
    monkeypatch.setenv("AUTOAGENT_MAX_EXPRESSION_OUTPUT", "999")
    get_settings.cache_clear()
    try:
        with pytest.raises(ExpressionError, match="more than 999 characters"):
            render(template, _BIG)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_each_render_has_its_own_budget() -> None:
    value = {f"k{i}": "{{ params.s * 90000 }}" for i in range(30)}  # 27 M in all, 0.9 M each
    assert all(len(v) == 900_000 for v in render(value, _BIG).values())


def test_integer_products_cannot_grow_without_bound() -> None:
    with pytest.raises(ExpressionError, match="number too large"):
        render({"x": "{{ " + " * ".join(["params.n"] * 90) + " }}"}, _BIG)
    assert render({"x": "{{ params.n * 2 }}"}, _BIG)["x"] == 2 * 10**4000


@pytest.mark.parametrize(
    "template",
    [
        "{{ " + " + ".join(["params.l"] * 200) + " }}",
        "{{ params" + ".a" * 3000 + " }}",
        "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
        "{{ " + "not " * 2000 + "true }}",
        "{{ " + "9" * 5000 + " }}",
    ],
)
def test_expressions_nested_or_sized_past_reason_are_refused_statically(template: str) -> None:
    with pytest.raises(ExpressionError):
        check(template)
    with pytest.raises(ExpressionError):
        render({"x": template}, _BIG)
