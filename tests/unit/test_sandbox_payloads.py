"""Hostile expressions: a corpus of published Jinja2 SSTI payloads in every expression position.

The corpus gathers the Jinja2 payloads of the public server-side template injection lists
(PayloadsAllTheThings "Server Side Template Injection/Python.md", HackTricks "Jinja2 SSTI", the
sandbox-escape write-ups) and adapts each family to this project's roots (``params``, ``steps``,
``item``) so that a payload cannot be refused merely for naming an unknown variable. Every
payload must be

* reported by validation, in each field of a spec that holds an expression, as a problem that
  names that step and that field (and validation never raises anything but ``SpecError``);
* refused by ``render()`` with ``ExpressionError``, running nothing and leaking nothing;
* inert in the run-time sandbox alone (the static check switched off).

``SENTINEL`` in a payload is replaced by a path in ``tmp_path`` that must never be created;
``SECRET_FILE`` by a file whose content must never come back, nor the value of ``CANARY_ENV``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoagent import expressions
from autoagent.api.notebook import problems
from autoagent.errors import ExpressionError
from autoagent.expressions import ExpressionInfo, is_template, render
from autoagent.settings import get_settings
from tests.unit.test_expressions import PAYLOADS as BASE_PAYLOADS
from tests.unit.test_expressions import _is_plain

BIG_INT = "1" + "0" * 4400  # past Python's 4300-digit limit for int <-> str
DEEP_PARENS = "(" * 300 + "params.p" + ")" * 300
LONG_SUM = "params.n" + " + 1" * 2000
DEEP_LIST = "[" * 300 + "params.p" + "]" * 300

PAYLOADS: list[str] = [
    *BASE_PAYLOADS,  # the corpus of tests/unit/test_expressions.py
    # --- PayloadsAllTheThings, Jinja2 section -------------------------------------------------
    "{{7*'7'}}",
    "{{ [].class.base.subclasses() }}",
    "{{''.class.mro()[1].subclasses()}}",
    "{{ ''.__class__.__mro__[2].__subclasses__() }}",
    "{% for key, value in config.iteritems() %}<dt>{{ key|e }}</dt>{% endfor %}",
    "{{ ''.__class__.__mro__[2].__subclasses__()[40]('SECRET_FILE').read() }}",
    "{{ config.items()[4][1].__class__.__mro__[2].__subclasses__()[40]('SECRET_FILE').read() }}",
    "{{ get_flashed_messages.__globals__.__builtins__.open('SECRET_FILE').read() }}",
    "{{ ''.__class__.__mro__[2].__subclasses__()[40]('SENTINEL', 'w').write('pwned') }}",
    "{{ x.__init__.__builtins__.exec(\"open('SENTINEL', 'w').close()\") }}",
    "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('touch SENTINEL').read() }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ self._TemplateReference__context.joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ self._TemplateReference__context.namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('touch SENTINEL').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('touch SENTINEL').read() }}",
    "{{ lipsum.__globals__[\"os\"].popen('touch SENTINEL').read() }}",
    "{{''.__class__.mro()[1].__subclasses__()[396]('touch SENTINEL',shell=True,stdout=-1)"
    ".communicate()[0].strip()}}",
    "{{config.__class__.__init__.__globals__['os'].popen('touch SENTINEL').read()}}",
    '{% for x in ().__class__.__base__.__subclasses__() %}{% if "warning" in x.__name__ %}'
    "{{x()._module.__builtins__['__import__']('os').popen(\"touch SENTINEL\").read()}}"
    "{%endif%}{% endfor %}",
    "{{ config.from_pyfile('SECRET_FILE') }}",
    "{{ config['RUNCMD']('touch SENTINEL',shell=True) }}",
    "{{request|attr([request.args.usc*2,request.args.class,request.args.usc*2]|join)}}",
    '{{request|attr(["_"*2,"class","_"*2]|join)}}',
    '{{request|attr(["__","class","__"]|join)}}',
    '{{request|attr("__class__")}}',
    '{{request["__class__"]}}',
    "{{request|attr((request.args.usc*2,request.args.class,request.args.usc*2)|join)}}",
    "{{request|attr(request.args.getlist(request.args.l)|join)}}",
    "{{request|attr(request.args.f|format(request.args.a,request.args.a,request.args.a))}}",
    r"{{request|attr('application')|attr('\x5f\x5fglobals\x5f\x5f')"
    r"|attr('\x5f\x5fgetitem\x5f\x5f')('\x5f\x5fbuiltins\x5f\x5f')"
    r"|attr('\x5f\x5fgetitem\x5f\x5f')('\x5f\x5fimport\x5f\x5f')('os')"
    r"|attr('popen')('touch SENTINEL')|attr('read')()}}",
    "{%import os%}{{os.system('touch SENTINEL')}}",
    "{% extends 'layout.html' %}{% block body %}{{ params.p }}{% endblock %}",
    "<pre>{% debug %}</pre>",
    # --- HackTricks, Jinja2 SSTI ----------------------------------------------------------------
    "{{ config }}",
    "{% for key, value in config.items() %}<dt>{{ key|e }}</dt><dd>{{ value|e }}</dd>{% endfor %}",
    "{{ dict.__base__.__subclasses__() }}",
    "{{ dict.mro()[-1].__subclasses__() }}",
    r'{{ (dict.mro()[-1]|attr("\x5f\x5fsubclasses\x5f\x5f"))() }}',
    "{% with a = dict.mro()[-1].__subclasses__() %} {{ a }} {% endwith %}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ [].__class__.__mro__[-1].__subclasses__() }}",
    '{{ ((""|attr("__class__")|attr("__mro__"))[-1]|attr("__subclasses__"))() }}',
    "{{ request.__class__.mro()[-1].__subclasses__() }}",
    "{% with a = config.__class__.mro()[-1].__subclasses__() %} {{ a }} {% endwith %}",
    '{{ (dict|attr("__mro__"))[-1] }}',
    "{{ dict.mro()[-1].__subclasses__()[276](request.args.cmd,shell=True,stdout=-1)"
    ".communicate()[0].strip() }}",
    "{{ request|attr(request.headers.c) }}",
    "{{ request|attr(request.query_string[2:16].decode()) }}",
    r'{% with a = request["application"]["\x5f\x5fglobals\x5f\x5f"]["\x5f\x5fbuiltins\x5f\x5f"]'
    r'["\x5f\x5fimport\x5f\x5f"]("os")["popen"]("touch SENTINEL")["read"]() %} a {% endwith %}',
    "{{ '<script>alert(1);</script>'|safe }}",
    r'{%with a=request|attr("application")|attr("\x5f\x5fglobals\x5f\x5f")'
    r'|attr("\x5f\x5fgetitem\x5f\x5f")("\x5f\x5fbuiltins\x5f\x5f")'
    r"|attr('\x5f\x5fgetitem\x5f\x5f')('\x5f\x5fimport\x5f\x5f')('os')"
    r"|attr('popen')('touch${IFS}SENTINEL')|attr('read')()%}{%print(a)%}{%endwith%}",
    "{{ request.__class__.__dict__ }}",
    "{{ config.__class__.__dict__ }}",
    '{{ request.__class__._load_form_data.__globals__.__builtins__.open("SECRET_FILE").read() }}',
    '{{ config.__class__.from_envvar.__globals__.__builtins__.__import__("os")'
    '.popen("touch SENTINEL").read() }}',
    '{{ config.__class__.from_envvar["__globals__"]["__builtins__"]["__import__"]("os")'
    '.popen("touch SENTINEL").read() }}',
    '{{ (config|attr("__class__")).from_envvar["__globals__"]["__builtins__"]["__import__"]'
    '("os").popen("touch SENTINEL").read() }}',
    '{{ config.__class__.from_envvar.__globals__.import_string("os").popen("ls").read() }}',
    # --- the same families against this project's own roots -------------------------------------
    "{{ params.__class__.__mro__[1].__subclasses__() }}",
    "{{ steps.a.output.__class__.__base__ }}",
    "{{ item.__class__.__init__.__globals__ }}",
    "{{ params.p.__class__.__mro__[-1].__subclasses__()[132].__init__.__globals__['popen']"
    "('touch SENTINEL').read() }}",
    "{{ params.get('p') }}",
    "{{ params.pop('p') }}",
    "{{ params.setdefault('p', 1) }}",
    "{{ params.p.format_map(params) }}",
    "{{ '{0.__class__}'.format_map(params) }}",
    "{{ params.p.__getattribute__('__class__') }}",
    "{{ params['__cla' + 'ss__'] }}",
    r"{{ params['\x5f\x5fclass\x5f\x5f'] }}",
    "{{ params[('_'|lower) ~ '_class__'] }}",
    "{{ params[['_', '_class__']|join] }}",
    "{{ params['__CLASS__'|lower] }}",
    "{{ params['  __class__  '|trim] }}",
    "{{ params['[\"__class__\"]'|fromjson|first] }}",
    "{{ params[('\\u005f' ~ '_class__')|replace('', '')] }}",
    "{{ params.__\uff43lass__ }}",  # a fullwidth c
    "{{ steps.a.output|attr('__class__') }}",
    "{{ params['p']['__class__'] }}",
    "{{ params.p[0].__class__ }}",
    "{{ item._ }}",
    "{{ params.p|map('upper')|list }}",
    "{{ params.p|map('attr', '__class__')|list }}",
    "{{ params|select('callable')|list }}",
    "{{ params|selectattr('__class__')|list }}",
    "{{ params|rejectattr('p')|list }}",
    "{{ params|reject('none')|list }}",
    "{{ [[1]]|sum(start=[]) }}",
    "{{ params.p|sum }}",
    "{{ params.p|batch(3)|list }}",
    "{{ 'a b'|wordwrap(1, wrapstring='xxxxxxxxxx') }}",
    "{{ 'a'|indent(999999999) }}",
    "{{ 'a'|center(999999999) }}",
    "{{ params|xmlattr }}",
    "{{ params.p|urlize }}",
    "{{ params|pprint }}",
    "{{ params|list }}",
    "{{ params|dictsort }}",
    "{{ params|groupby('p') }}",
    "{{ params|unique|list }}",
    "{{ params|items }}",
    "{{ params|max }}",
    "{{ params|random }}",
    "{{ params.p|truncate(999999999) }}",
    "{{ params.p|e }}",
    "{{ params.p|forceescape }}",
    "{{ params.p|urlencode }}",
    "{{ params.p|filesizeformat }}",
    "{{ params.p|slice(3)|list }}",
    "{{ params.p|tojson|safe }}",
    "{{ 'x'|format(params) }}",
    "{{ '%s%s'|format(params, params) }}",
    "{{ '%s' % (params,) }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ params is callable }}",
    "{{ params is escaped }}",
    "{{ params.n is divisibleby 0 }}",
    "{{ params is iterable }}",
    "{{ params is filter }}",
    "{{ 'abc'[::-1] }}",
    "{{ params.p[:999999999] }}",
    "{{ ''.__doc__ }}",
    "{{ [1].pop }}",
    "{{ true.__class__ }}",
    "{{ none.__class__ }}",
    "{{ caller }}",
    "{{ varargs }}",
    "{{ kwargs }}",
    "{{ context }}",
    "{{ environment }}",
    "{{ __builtins__ }}",
    "{{ super() }}",
    "{{ lipsum(999999, false, 999999, 999999) }}",
    "{{ cycler(1, 2).next() }}",
    "{{ joiner() }}",
    "{{ namespace(a=params) }}",
    "{{ dict(__class__=1) }}",
    "{{ dict|attr('__base__') }}",
    "{{ range(999999999)|list|length }}",
    "{{ params.p(__class__=1) }}",
    # statements of every kind
    "{% set x = params %}{{ x }}",
    "{% set x %}{{ params.p }}{% endset %}",
    "{% for i in params %}{{ i }}{% endfor %}",
    "{% for i in [1] %}{{ loop.cycle('a', 'b') }}{% endfor %}",
    "{% for x in steps recursive %}{{ loop(x) }}{% endfor %}",
    "{% if params.p %}x{% endif %}",
    "{% import 'x.html' as x %}",
    "{% from 'x.html' import y %}",
    "{% include params.p %}",
    "{% include 'SENTINEL' ignore missing %}",
    "{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}x{% endcall %}",
    "{% call(x) params.p() %}{% endcall %}",
    "{% with x = 1 %}{% endwith %}",
    "{% filter attr('__class__') %}x{% endfilter %}",
    "{% autoescape false %}{{ params.p }}{% endautoescape %}",
    "{% set ns = namespace(x=params) %}{% set ns.x = 1 %}",
    "{% block b %}{{ super() }}{% endblock %}",
    "{% do params.update({}) %}",
    "{% print ''.__class__.__mro__ %}",
    "{% for a in [1] * 1000000 %}{% for b in [1] * 1000000 %}{% endfor %}{% endfor %}",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    # hidden in ordinary text, whitespace control, comments, newlines, containers, arguments
    "echo {{ params.p }} && {{ ''.__class__ }}",
    "{{- ''.__class__ -}}",
    "{%- set x = 1 -%}",
    "{# a comment #}{{ params.__class__ }}",
    "{{\n''.__class__\n}}",
    "{{ params.p if params.__class__ else 1 }}",
    "{{ [params.__class__] }}",
    "{{ {'a': params.__class__} }}",
    "{{ {params.__class__: 1} }}",
    "{{ (params.__class__, 1) }}",
    "{{ params.p|default(''.__class__) }}",
    "{{ params.p|join(params.__class__) }}",
    "{{ params.p|replace('a', 'b', count=params.__class__) }}",
    "{{ params.p\x00.__class__ }}",
    "{{ '\ud800'.__class__ }}",
    # resource bombs: repetition, formatting, powers, argument caps, huge literals, deep nesting
    "{{ 'ab' ~ 'a' * 1000000000 }}",
    "{{ ('a' ~ 'b') * 1000000000 }}",
    "{{ ('a'|upper) * 1000000000 }}",
    "{{ (['a'] + ['b']) * 1000000000 }}",
    "{{ ('%s'|lower) % params }}",
    "{{ 10**10**10 }}",
    "{{ 2**1000000 }}",
    "{{ params.n ** 99999999 }}",
    "{{ 1|round(-99999999999) }}",
    "{{ params|tojson(indent=99999999) }}",
    "{{ 'aaaaaaaaaa'|replace('a', 'aaaaaaaaaa')|replace('a', 'aaaaaaaaaa')"
    "|replace('a', 'aaaaaaaaaa')|replace('a', 'aaaaaaaaaa')|replace('a', 'aaaaaaaaaa')"
    "|replace('a', 'aaaaaaaaaa') }}",
    "{{ " + BIG_INT + " }}",
    "{{ params[" + BIG_INT + "] }}",
    "{{ " + DEEP_PARENS + " }}",
    "{{ " + LONG_SUM + " }}",
    "{{ " + DEEP_LIST + " }}",
]

# Loop bombs rely on the static check by design (the sandbox alone has no step budget): the
# sandbox-only test leaves them out, every other test holds them to the same rules.
LOOP_BOMBS = {
    "{% for a in [1] * 1000000 %}{% for b in [1] * 1000000 %}{% endfor %}{% endfor %}",
}

CANARY = "canary-5f3b9e0d-never-rendered"
SAFE = "{{ params.p }}"

# --- positions: every field of a spec that holds an expression ---------------------------------

Build = Callable[[str, str], list[dict[str, Any]]]  # (expression, child file) -> steps


def _agent(sid: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"id": sid, "agent": "echo", "input": {"value": value}, **extra}


POSITIONS: dict[str, tuple[str, str, Build]] = {
    "input": ("direct", "input.value", lambda x, _: [_agent("direct", x)]),
    "input-dict": ("in_dict", "input.value.k", lambda x, _: [_agent("in_dict", {"k": x})]),
    "input-list": ("in_list", "input.value[1]", lambda x, _: [_agent("in_list", ["ok", x])]),
    "input-list-in-dict-in-list": (
        "deep",
        "input.value[0].deep[1]",
        lambda x, _: [_agent("deep", [{"deep": ["ok", x]}])],
    ),
    "input-command": (
        "command",
        "input.command",
        lambda x, _: [{"id": "command", "agent": "shell", "input": {"command": x}}],
    ),
    "input-env": (
        "env",
        "input.env.X",
        lambda x, _: [
            {"id": "env", "agent": "shell", "input": {"command": "true", "env": {"X": x}}}
        ],
    ),
    "when": ("cond", "when", lambda x, _: [_agent("cond", 1, when=x)]),
    "for_each": ("fan", "for_each", lambda x, _: [_agent("fan", "{{ item }}", for_each=x)]),
    "for_each-list": (
        "fan_list",
        "for_each[1]",
        lambda x, _: [_agent("fan_list", "{{ item }}", for_each=["a", x])],
    ),
    "group-child-input": (
        "child",
        "input.value",
        lambda x, _: [{"id": "group", "steps": [_agent("child", x)]}],
    ),
    "nested-group-input": (
        "grandchild",
        "input.value",
        lambda x, _: [
            {"id": "outer", "steps": [{"id": "inner", "steps": [_agent("grandchild", x)]}]}
        ],
    ),
    "for_each-group-child-input": (
        "per_item",
        "input.value",
        lambda x, _: [{"id": "fan_group", "for_each": [1, 2], "steps": [_agent("per_item", x)]}],
    ),
    "mission-params": (
        "sub",
        "params.p",
        lambda x, child: [{"id": "sub", "mission": child, "params": {"p": x}}],
    ),
    "compensate-input": (
        "saga",
        "compensate.input.value",
        lambda x, _: [_agent("saga", 1, compensate={"agent": "echo", "input": {"value": x}})],
    ),
    "approval-title": (
        "ask",
        "approval.title",
        lambda x, _: [{"id": "ask", "approval": {"title": x, "description": "d"}}],
    ),
    "approval-description": (
        "ask_more",
        "approval.description",
        lambda x, _: [{"id": "ask_more", "approval": {"title": "t", "description": x}}],
    ),
    "wait-seconds": (
        "pause",
        "wait.seconds",
        lambda x, _: [{"id": "pause", "wait": {"seconds": x}}],
    ),
    "wait-until": (
        "pause_until",
        "wait.until",
        lambda x, _: [{"id": "pause_until", "wait": {"until": x}}],
    ),
    "event-key": ("signal", "event.key", lambda x, _: [{"id": "signal", "event": {"key": x}}]),
}


def spec_with(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "hostile", "params": {"p": "v", "n": 1}, "steps": steps}


def everywhere(payload: str, child: str) -> dict[str, Any]:
    """One spec holding ``payload`` in every position at once."""
    return spec_with([step for _, _, build in POSITIONS.values() for step in build(payload, child)])


def located(found: list[str], step: str, field: str) -> bool:
    """Whether one of the problem lines names ``step`` and ``field``."""
    return any(f"step {step!r}, field {field!r}:" in line for line in found)


def short(payload: str) -> str:
    return payload if len(payload) <= 70 else payload[:67] + "..."


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A child mission with a param ``p``, by absolute path, in a folder the settings allow
    (``AUTOAGENT_MISSION_ROOTS``: a spec given as data has no folder of its own)."""
    folder = tmp_path_factory.mktemp("payload-child")
    path = folder / "child.yaml"
    path.write_text(
        "name: kid\nparams: {p: 1}\nsteps:\n"
        "  - {id: work, agent: echo, input: {value: '{{ params.p }}'}}\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOAGENT_MISSION_ROOTS", str(folder))
        get_settings.cache_clear()
        yield str(path)
    get_settings.cache_clear()


# --- the corpus itself ------------------------------------------------------------------------


def test_corpus_size_and_distinct() -> None:
    assert len(PAYLOADS) >= 110
    duplicates = sorted({p for p in PAYLOADS if PAYLOADS.count(p) > 1})
    assert not duplicates, duplicates
    assert all(is_template(p) for p in PAYLOADS), [p for p in PAYLOADS if not is_template(p)]
    assert set(PAYLOADS) >= LOOP_BOMBS


def test_positions_are_enough() -> None:
    assert len(POSITIONS) >= 15
    steps = [step for step, _, _ in POSITIONS.values()]
    assert len(set(steps)) == len(steps)


@pytest.mark.parametrize("position", POSITIONS)
def test_safe_expression_is_valid_in_each_position(position: str, child: str) -> None:
    _, _, build = POSITIONS[position]
    assert problems(spec_with(build(SAFE, child))) == []


def test_safe_expression_is_valid_everywhere_at_once(child: str) -> None:
    assert problems(everywhere(SAFE, child)) == []


# --- validation: every payload reported where it is --------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS, ids=short)
def test_payload_reported_in_each_position(payload: str, child: str) -> None:
    """One spec per position, holding the payload there only (so no position hides another)."""
    failures = []
    for position, (step, field, build) in POSITIONS.items():
        try:
            found = problems(spec_with(build(payload, child)))
        except Exception as exc:  # reported with the others: problems() must never raise
            failures.append(f"{position}: raised {type(exc).__name__}: {exc}"[:300])
            continue
        assert isinstance(found, list) and all(isinstance(line, str) for line in found)
        if not located(found, step, field):
            got = " | ".join(found)[:300] or "the spec is valid"
            failures.append(f"{position}: no problem names step {step!r}, field {field!r} ({got})")
    assert not failures, "\n".join(failures)


FORMS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "dict": lambda spec: spec,
    "json": json.dumps,
    "yaml": lambda spec: _yaml_text(spec),
}


def _yaml_text(spec: dict[str, Any]) -> str:
    try:  # libyaml's emitter is fast, but cannot write a lone surrogate: PyYAML escapes it
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        return yaml.dump(spec, Dumper=dumper, allow_unicode=True, sort_keys=False, width=10**6)
    except UnicodeEncodeError:
        return yaml.dump(spec, Dumper=yaml.SafeDumper, sort_keys=False, width=10**6)


@pytest.mark.parametrize("payload", PAYLOADS, ids=short)
def test_payload_reported_everywhere_at_once(payload: str, child: str) -> None:
    """The payload in every position of one spec, given as data, as JSON text and as YAML text."""
    failures = []
    for form, serialize in FORMS.items():
        try:
            found = problems(serialize(everywhere(payload, child)))
        except Exception as exc:
            failures.append(f"{form}: raised {type(exc).__name__}: {exc}"[:300])
            continue
        assert isinstance(found, list) and all(isinstance(line, str) for line in found)
        if form == "yaml" and not _utf8(payload):
            # a lone surrogate cannot be written as YAML text: that is a reading problem
            if not any("malformed YAML" in line for line in found):
                failures.append(f"{form}: no reading problem for unencodable text: {found}")
            continue
        missing = [f"{s}/{f}" for s, f, _ in POSITIONS.values() if not located(found, s, f)]
        if missing:
            failures.append(f"{form}: not reported at {', '.join(missing)}")
    assert not failures, "\n".join(failures)


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# --- rendering: refused, nothing runs, nothing leaks -------------------------------------------


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Paths for SENTINEL and SECRET_FILE, a secret in the environment, and recorders in place
    of the functions that start processes."""
    calls: list[str] = []

    def recorder(name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            calls.append(name)
            raise AssertionError(f"{name} was called")

        return record

    for module, name in ((os, "system"), (os, "popen"), (os, "execv"), (os, "posix_spawn")):
        monkeypatch.setattr(module, name, recorder(f"os.{name}"))
    monkeypatch.setattr(subprocess, "Popen", recorder("subprocess.Popen"))
    monkeypatch.setenv("CANARY_ENV", CANARY)
    box = tmp_path / "box"
    box.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text(CANARY)
    return {"calls": calls, "box": box, "sentinel": box / "pwned", "secret": secret}


def _arm(payload: str, canary: dict[str, Any]) -> str:
    return payload.replace("SENTINEL", str(canary["sentinel"])).replace(
        "SECRET_FILE", str(canary["secret"])
    )


def _assert_nothing_happened(canary: dict[str, Any], *outputs: Any) -> None:
    assert canary["calls"] == []
    assert not canary["sentinel"].exists()
    assert list(canary["box"].iterdir()) == []
    for output in outputs:
        assert CANARY not in repr(output)


@pytest.mark.parametrize("payload", PAYLOADS, ids=short)
def test_render_refuses_payload(payload: str, canary: dict[str, Any]) -> None:
    text = _arm(payload, canary)
    with pytest.raises(ExpressionError) as caught:
        render({"x": text}, {"params": {}, "steps": {}})
    _assert_nothing_happened(canary, str(caught.value))


@pytest.mark.parametrize("payload", [p for p in PAYLOADS if p not in LOOP_BOMBS], ids=short)
def test_sandbox_alone_is_inert(
    payload: str, canary: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second layer on its own (static check off): whatever renders is plain data."""
    name = "static_check" if hasattr(expressions, "static_check") else "_static_check"
    monkeypatch.setattr(expressions, name, lambda text: ExpressionInfo())
    context = {
        "params": {"p": "v", "n": 1, "name": "Ada", "items": [1, 2]},
        "steps": {"a": {"output": {"x": 1}}},
        "item": {"k": "v"},
    }
    text = _arm(payload, canary)
    try:
        result = render({"x": text}, context)
    except ExpressionError as exc:
        result = str(exc)
    _assert_nothing_happened(canary, result)
    assert _is_plain(result), result
