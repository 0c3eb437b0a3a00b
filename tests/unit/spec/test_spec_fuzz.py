"""Property-based fuzzing of spec validation: hostile data never crashes the validator.

Spec-like data is generated (missions with steps of every kind, groups, needs, for_each,
expressions, approvals with fields, waits, events, child missions), then mutated (keys dropped
or renamed, types swapped, huge ints past Python's 4300-digit limit, nan/inf, deep nesting,
tuples, sets, bytes, None, odd unicode, shared and cyclic values, cycles in needs, duplicate ids)
and handed over as Python data, JSON text and YAML text; raw text is mutated too (garbage lines,
random bytes, YAML tags that do not construct, invalid dates, anchors and aliases, deep nesting).

The property: each call returns a MissionSpec or raises SpecError; anything else is a bug.
``interactive.problems(x)`` returns a list of strings for any x.

``AUTOAGENT_FUZZ_EXAMPLES`` sets the number of examples of each property (default 2000). Runs
are derandomized and keep no example database, so CI sees the same examples every time.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoagent.api.notebook import problems
from autoagent.errors import SpecError
from autoagent.settings import get_settings
from autoagent.spec import MissionSpec, loads, validate_data

EXAMPLES = int(os.environ.get("AUTOAGENT_FUZZ_EXAMPLES", "2000"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
pytestmark = [
    pytest.mark.slow,
    # hypothesis warns when it builds the repr of a large generated spec: noise, not a finding
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

# --- the folder child missions live in ----------------------------------------------------------

CHILDREN = {
    "child.yaml": "name: kid\nparams: {p: 1, q: x}\nsteps:\n  - {id: work, agent: echo,"
    " input: {value: '{{ params.p }}'}}\n",
    "child.json": '{"name": "kid-json", "steps": [{"id": "w", "agent": "echo", "input":'
    ' {"value": 1}}]}',
    "broken.yaml": "name: broken\nsteps:\n  - {id: w, agent: nope, needs: [w]}\n",
    "garbage.yaml": "name: [unclosed\n\t- !!int abc\n",
    "itself.yaml": "name: itself\nsteps:\n  - {id: again, mission: itself.yaml}\n",
    "bigint.yaml": "name: big\nsteps:\n  - {id: w, agent: sleep, input: {seconds: 1"
    + "0" * 4400
    + "}}\n",
}
MISSIONS = [*CHILDREN, "child", "nope.yaml", "../child.yaml", "/etc/passwd", "", "."]


@pytest.fixture(scope="module")
def child_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("fuzz-children")
    for name, text in CHILDREN.items():
        (folder / name).write_text(text)
    with pytest.MonkeyPatch.context() as patch:  # where problems(x) may find them, too
        patch.setenv("AUTOAGENT_MISSION_ROOTS", str(folder))
        get_settings.cache_clear()
        yield folder
    get_settings.cache_clear()


MEMORY_HEADROOM = 2**30  # bytes of address space one call may take beyond what is mapped


@contextmanager
def memory_ceiling() -> Iterator[None]:
    """A validator that blows up exponentially (a cyclic step list walked again and again)
    meets MemoryError here, instead of waking the machine's OOM killer."""
    try:
        import resource
    except ImportError:  # not on Linux: no ceiling
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    pages = int(Path("/proc/self/statm").read_text().split()[0])
    ceiling = pages * resource.getpagesize() + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def bounded(call: Callable[[], Any]) -> Any:
    """``call()`` under the memory ceiling. Running out of memory fails the example with the
    place it happened, after the memory is released (the traceback would hold on to it)."""
    where = None
    try:
        with memory_ceiling():
            return call()
    except MemoryError as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        inner = [f for f in frames if "autoagent" in f.filename] or frames
        where = f"{inner[-1].filename}:{inner[-1].lineno} ({inner[-1].name})"
    raise AssertionError(f"ran out of memory ({MEMORY_HEADROOM >> 20} MiB more) in {where}")


# --- building blocks ----------------------------------------------------------------------------

IDS = ["a", "b", "c", "build", "test", "grp", "x-1", "_u", "work"]
WEIRD_TEXT = [
    "",
    " ",
    "\x00",
    "\ud800",
    "\udfff",
    "\u202e",
    "\ufeff",
    "\u2028",
    "²",
    "٣",
    "Ⅻ",
    "𝔭𝔞𝔯𝔞𝔪𝔰",
    "e\u0301",
    "\n",
    "a" * 70,
    "{{",
    "}}",
    "{%",
    "${x}",
    "~",
    "null",
    "yes",
    "2020-13-45",
    "2020-02-30",
    "0x1F",
    "1e400",
    ".nan",
    "-.inf",
    "!!int abc",
    "input.0",
    "a.b",
    "x: y",
]
EXPRESSIONS = [
    "{{ params.p }}",
    "{{ params.missing }}",
    "{{ steps.a.output }}",
    "{{ steps.b.output.x }}",
    "{{ steps.grp.output|length }}",
    "{{ item }}",
    "{{ item.x }}",
    "{{ params.p|default(1) }}",
    "{{ params.q * 2 }}",
    "echo {{ params.p }} {{ steps.a.output.stdout }}",
    "{{ params.p",
    "{% if params.p %}x{% endif %}",
    "{{ ''.__class__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ 'a' * 100000000 }}",
    "{{ 9**9**9 }}",
    "params.p",
    "steps.a.output.ok",
    "not a template",
]
NUMBERS = [0, -1, 1, 2**63, -(2**64), 1e308, -0.0, 5e-324, math.nan, math.inf, -math.inf]

big_ints = st.sampled_from([4301, 4400, 5000]).map(lambda k: 10**k) | st.sampled_from(
    [4301, 4400]
).map(lambda k: -(10**k) - 7)  # past Python's 4300-digit limit for int <-> str


def repeat(head: str, unit: str, count: int, tail: str = "") -> str:
    """``head + unit * count + tail``: long texts built as they are drawn, so that a failing
    example reads ``repeat('{{ 1', '0', 4400, ' }}')`` rather than 4400 zeros."""
    return head + unit * count + tail


def repeated(head: str, unit: str, count: int, tail: str = "") -> st.SearchStrategy:
    return st.builds(repeat, st.just(head), st.just(unit), st.just(count), st.just(tail))


def mostly(common: list[Any], rare: list[st.SearchStrategy], one_in: int = 6) -> st.SearchStrategy:
    """One of ``common``, and once in ``one_in`` draws one of the ``rare`` strategies (the long
    texts, which cost the parsers far more than the short ones)."""
    usual, unusual = st.sampled_from(common), st.one_of(*rare)
    return st.integers(1, one_in).flatmap(lambda n: unusual if n == one_in else usual)


LONG_EXPRESSIONS = [
    repeated("{{ 1", "0", 4400, " }}"),  # a literal past the 4300-digit limit
    repeated("{{ ", "(", 200, "1" + ")" * 200 + " }}"),  # the parser recurses
    repeated("{{ params.p", " + 1", 1500, " }}"),  # a flat text, a deep tree
    repeated("{{ params.p }}", " ", 10_001),  # past the source limit
]
texts = st.one_of(st.text(max_size=10), st.sampled_from(WEIRD_TEXT))
exprs = mostly(EXPRESSIONS, LONG_EXPRESSIONS, one_in=40)  # a spec draws many expressions
numbers = st.one_of(
    st.integers(-3, 200),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NUMBERS),
    big_ints,
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts, exprs, st.binary(max_size=6))
hashables = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), texts, st.binary(max_size=3))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(texts, inner, max_size=3),
        st.tuples(inner, inner),
        st.frozensets(hashables, max_size=3).map(set),
    ),
    max_leaves=6,
)
strings = st.one_of(exprs, texts)


def nest(depth: int, kind: str = "list") -> Any:
    value: Any = "{{ params.p }}"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


deep = st.builds(nest, st.integers(90, 400), st.sampled_from(["list", "dict"]))
weird_values = st.one_of(
    st.none(),
    st.sampled_from(NUMBERS),
    big_ints,
    texts,
    st.binary(max_size=8),
    st.tuples(scalars, scalars),
    st.frozensets(hashables, max_size=3).map(set),
    st.frozensets(hashables, max_size=3),
    deep,
    values,
)
weird_keys = st.one_of(texts, st.none(), st.booleans(), st.integers(-2, 5), st.just((1, 2)))


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """A value of ``strategy``, or None meaning "leave the key out"."""
    return st.one_of(st.none(), strategy)


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _agent_input(agent: str) -> st.SearchStrategy:
    if agent == "echo":
        return st.fixed_dictionaries({"value": st.one_of(values, strings)})
    if agent == "shell":
        return st.fixed_dictionaries(
            {"command": strings},
            optional={
                "env": st.dictionaries(texts, strings, max_size=2),
                "cwd": strings,
                "check": st.booleans(),
            },
        )
    if agent == "sleep":
        return st.fixed_dictionaries({"seconds": st.one_of(numbers, exprs)})
    if agent == "fail":
        return st.fixed_dictionaries(
            {}, optional={"message": strings, "kind": texts, "times": numbers}
        )
    return st.dictionaries(texts, values, max_size=2)


# Strategies are built once, here: building them inside a draw costs more than the validation.
AGENTS = ["echo", "shell", "sleep", "fail", "nope"]
AGENT_INPUTS = {
    agent: st.builds(  # now and then a field the agent does not take, under an odd name
        lambda extra, known: {**extra, **known},
        st.dictionaries(texts, values, max_size=1),
        _agent_input(agent),
    )
    for agent in AGENTS
}
approval_fields = st.dictionaries(
    st.one_of(texts, st.sampled_from(["approved", "comment", "answered_at", "channel"])),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["bool", "str", "int", "float", "enum", "date", "x"])},
        optional={
            "choices": st.lists(st.one_of(texts, numbers), max_size=3),
            "default": scalars,
            "description": texts,
        },
    ),
    max_size=3,
)
WAIT_VALUES = ["2030-01-31T09:00:00Z", "2020-13-45", "2020-02-30", "2020-02-30T25:61:61", "soon"]
KINDS = {
    "approval": st.fixed_dictionaries(
        {"title": strings},
        optional={
            "description": strings,
            "fields": approval_fields,
            "timeout": numbers,
            "on_timeout": st.sampled_from(["approve", "reject", "fail", "x"]),
            "on_reject": st.sampled_from(["fail", "continue", "x"]),
        },
    ),
    "wait": st.fixed_dictionaries(
        {},
        optional={
            "seconds": st.one_of(numbers, exprs, texts),
            "until": st.one_of(st.sampled_from(WAIT_VALUES), exprs, numbers),
        },
    ),
    "event": st.fixed_dictionaries({"key": strings}, optional={"timeout": numbers}),
}
STEP_OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "needs": st.lists(st.sampled_from(IDS), max_size=3),
        "when": st.one_of(exprs, st.booleans()),
        "for_each": st.one_of(exprs, st.lists(scalars, max_size=3)),
        "retries": numbers,
        "retry_on": st.lists(st.sampled_from(["fail", "timeout", "x"]), max_size=2),
        "timeout": numbers,
        "compensate": st.fixed_dictionaries(
            {"agent": st.sampled_from(["echo", "nope"])}, optional={"input": AGENT_INPUTS["echo"]}
        ),
        "concurrency": st.sampled_from(["db", "nope"]),
        "asset": st.sampled_from(["file://out/x.csv", "not a uri"]),
        "description": texts,
    },
)
missions_named = st.sampled_from(MISSIONS)
step_ids = st.one_of(st.sampled_from(IDS), texts)
mission_params = st.dictionaries(texts, st.one_of(values, exprs), max_size=3)


STEP_KINDS = ["agent", "approval", "wait", "event", "mission", "steps"]
KIND_AT = {0: st.sampled_from(STEP_KINDS), 1: st.sampled_from(STEP_KINDS)}
KIND_AT[2] = st.sampled_from(STEP_KINDS[:-1])  # groups nest two levels deep
COUNT_AT = {0: st.integers(1, 4), 1: st.integers(1, 2), 2: st.integers(1, 2)}
STEPS_AT: dict[int, st.SearchStrategy] = {}  # filled below: the step lists of each depth


@st.composite
def steps(draw: Any, depth: int = 0) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(COUNT_AT[depth])):
        kind = draw(KIND_AT[depth])
        step: dict[str, Any] = {"id": draw(step_ids)}
        if kind == "agent":
            agent = draw(st.sampled_from(AGENTS))
            step["agent"] = agent
            step["input"] = draw(AGENT_INPUTS[agent])
        elif kind == "steps":
            step["steps"] = draw(STEPS_AT[depth + 1])
        elif kind == "mission":
            step["mission"] = draw(missions_named)
            if draw(st.booleans()):
                step["params"] = draw(mission_params)
        else:
            step[kind] = draw(KINDS[kind])
        step.update(draw(STEP_OPTIONS))
        out.append(step)
    return out


STEPS_AT.update({depth: steps(depth) for depth in (0, 1, 2)})

missions = st.builds(
    lambda name, params, defaults, concurrency, body, description: _compact(
        {
            "name": name,
            "description": description,
            "params": params,
            "defaults": defaults,
            "concurrency": concurrency,
            "steps": body,
        }
    ),
    st.one_of(st.sampled_from(["m", "demo", "kid", "Bad Name", ""]), texts),
    maybe(st.dictionaries(st.sampled_from(["p", "q", "flag"]), values, max_size=3)),
    maybe(
        st.fixed_dictionaries(
            {},
            optional={
                "retries": numbers,
                "retry_backoff": st.dictionaries(
                    st.sampled_from(["base_seconds", "factor", "max_seconds", "jitter", "x"]),
                    numbers,
                    max_size=3,
                ),
                "retry_on": st.lists(texts, max_size=2),
                "timeout": numbers,
            },
        )
    ),
    maybe(st.dictionaries(st.sampled_from(["db", "api"]), numbers, max_size=2)),
    STEPS_AT[0],
    maybe(texts),
)


# --- mutations ----------------------------------------------------------------------------------


def containers(value: Any, limit: int = 60) -> list[Any]:
    """The dicts and lists inside ``value`` (each once, cycles and deep chains cut short)."""
    found: list[Any] = []
    seen: set[int] = set()
    todo = [(value, 0)]
    while todo and len(found) < limit:
        current, depth = todo.pop()
        if id(current) in seen or depth > 12:
            continue
        seen.add(id(current))
        if isinstance(current, dict):
            found.append(current)
            todo.extend((v, depth + 1) for v in current.values())
        elif isinstance(current, list):
            found.append(current)
            todo.extend((v, depth + 1) for v in current)
    return found


def all_steps(data: Any) -> list[dict[str, Any]]:
    return [c for c in containers(data) if isinstance(c, dict) and "id" in c]


INDEX = st.integers(0, 2**16)
OPS = st.sampled_from(["drop", "rename", "swap", "add", "alias", "cycle", "dup", "top", "tuple"])


def choose(draw: Any, options: list[Any]) -> Any:
    """One of ``options`` (a list known only while drawing), shrinking towards the first."""
    return options[draw(INDEX) % len(options)]


@st.composite
def mutated(draw: Any, base: st.SearchStrategy = missions) -> Any:
    data = draw(base)
    for _ in range(draw(st.integers(0, 4))):
        found = containers(data)
        target = choose(draw, found)
        op = draw(OPS)
        if op == "top":  # the whole document becomes something else
            wrap = draw(st.integers(0, 2))
            data = [data] if wrap == 1 else (data,) if wrap == 2 else draw(weird_values)
            break
        if op == "cycle":  # steps that need each other
            chain = all_steps(data)
            if len(chain) >= 2:
                first, second = chain[0], chain[-1]
                first["needs"] = [second.get("id")]
                second["needs"] = [first.get("id"), second.get("id")]
            continue
        if op == "dup":  # the same step (id) twice
            chain = all_steps(data)
            ids = {id(s) for s in chain}  # by identity: == on cyclic data would not end
            lists = [c for c in found if isinstance(c, list) and any(id(x) in ids for x in c)]
            if lists:
                where = choose(draw, lists)
                where.append(choose(draw, where))
            continue
        if op == "tuple":  # a list (steps, needs, for_each, input values) given as a tuple
            slots = [
                (c, k)
                for c in found
                for k in (c if isinstance(c, dict) else range(len(c)))
                if isinstance(c[k], list)
            ]
            if slots:
                where, key = choose(draw, slots)
                where[key] = tuple(where[key])
            continue
        if op == "alias":  # share a container, or put it inside itself
            other = choose(draw, found)
            value: Any = other
        else:
            value = draw(weird_values)
        if isinstance(target, dict):
            keys = list(target)
            if op == "add" or not keys:
                target[draw(weird_keys)] = value
            elif op == "drop":
                del target[choose(draw, keys)]
            elif op == "rename":
                key = choose(draw, keys)
                target[draw(weird_keys)] = target.pop(key)
            else:
                target[choose(draw, keys)] = value
        elif target:
            index = draw(INDEX) % len(target)
            if op == "drop":
                del target[index]
            else:
                target[index] = value
        else:
            target.append(value)
    return dict(data) if isinstance(data, dict) else data  # a new object: shown as it is now


# --- serializing --------------------------------------------------------------------------------


@contextmanager
def any_int_digits() -> Iterator[None]:
    """Huge ints can be written as text here (Python's limit is lifted, then restored)."""
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(old)


def plain(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``value`` with only JSON's container types (tuples and sets become lists, bytes text,
    keys strings); raises ValueError on a cycle."""
    memo = {} if memo is None else memo
    if isinstance(value, dict | list | tuple | set | frozenset):
        if id(value) in memo:
            raise ValueError("cycle")
        memo[id(value)] = True
        if isinstance(value, dict):
            out: Any = {
                k if isinstance(k, str | int | float | bool) or k is None else repr(k): plain(
                    v, memo
                )
                for k, v in value.items()
            }
        else:
            out = [plain(v, memo) for v in value]
        del memo[id(value)]
        return out
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


def yamlable(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``value`` with what libyaml's safe dumper can write: tuples become lists, frozensets sets,
    tuple keys text, lone surrogates tokens (put back in the text by ``as_yaml``). Shared values
    stay shared (anchors), cycles stay cycles."""
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, str):
        return _SURROGATE.sub(lambda m: f"\ue000{ord(m.group()):04x}", value)
    if isinstance(value, dict):
        out: Any = {}
        memo[id(value)] = out
        for k, v in value.items():
            out[repr(k) if isinstance(k, tuple) else yamlable(k, memo)] = yamlable(v, memo)
        return out
    if isinstance(value, list | tuple):
        out = []
        memo[id(value)] = out
        out.extend(yamlable(v, memo) for v in value)
        return out
    if isinstance(value, set | frozenset):
        return {yamlable(v, memo) for v in value}
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")
_TOKEN = re.compile("\ue000([0-9a-f]{4})")
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def as_json(data: Any) -> str | None:
    try:
        with any_int_digits():
            return json.dumps(plain(data), ensure_ascii=False)
    except (ValueError, RecursionError):  # a cycle, or nesting JSON cannot write: data only
        return None


def as_yaml(data: Any) -> str | None:
    """YAML text of ``data`` (a lone surrogate is written as itself, raw, into the text)."""
    try:
        with any_int_digits():
            text = yaml.dump(yamlable(data), Dumper=_DUMPER, allow_unicode=True, width=200)
    except (yaml.YAMLError, RecursionError):  # cannot be written as YAML: data and JSON only
        return None
    return _TOKEN.sub(lambda m: chr(int(m.group(1), 16)), text)


# --- the property -------------------------------------------------------------------------------


def spec_or_spec_error(call: Callable[[], Any]) -> bool:
    """The property: a MissionSpec (True), or SpecError (False); any other exception propagates
    (a bug)."""
    try:
        result = bounded(call)
    except SpecError as exc:
        assert exc.problems, "a SpecError carries at least one problem"
        assert all(isinstance(str(p), str) for p in exc.problems)
        return False
    assert isinstance(result, MissionSpec), type(result)
    return True


def json_like(value: Any) -> bool:
    """Whether ``value`` holds only what JSON and YAML text carry as is (tuples aside, which
    both write as lists): string keys, no bytes, no sets, nothing shared or cyclic, and not so
    deep that comparing it would take this test's own stack."""
    seen: set[int] = set()
    todo = [(value, 0)]
    while todo:
        current, depth = todo.pop()
        if isinstance(current, bytes | set | frozenset) or depth > 150:
            return False
        if isinstance(current, dict | list | tuple):
            if id(current) in seen:
                return False
            seen.add(id(current))
            if isinstance(current, dict):
                if not all(isinstance(k, str) for k in current):
                    return False
                todo.extend((v, depth + 1) for v in current.values())
            else:
                todo.extend((v, depth + 1) for v in current)
    return True


def tupled(value: Any) -> Any:
    """``value`` with every list (steps, needs, for_each, inputs...) made a tuple."""
    if isinstance(value, dict):
        return {k: tupled(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(tupled(v) for v in value)
    return value


@FUZZ
@given(data=mutated())
def test_spec_data_json_and_yaml(data: Any, child_dir: Path) -> None:
    json_text = as_json(data)  # serialized first: validation must not depend on what it was given
    yaml_text = as_yaml(data)
    verdicts = {"data": spec_or_spec_error(lambda: validate_data(data, base_dir=child_dir))}
    if json_text is not None:
        verdicts["json"] = spec_or_spec_error(
            lambda: loads(json_text, fmt="json", base_dir=child_dir)
        )
    if yaml_text is not None:
        verdicts["yaml"] = spec_or_spec_error(
            lambda: loads(yaml_text, fmt="yaml", base_dir=child_dir)
        )
    if json_like(data):  # the same spec as text: data must not pass where its text fails
        refused = [form for form, valid in verdicts.items() if not valid]
        assert not (verdicts["data"] and refused), f"valid as data, refused as {refused}"
        # a planner may hand over tuples: the rules hold for them exactly as for lists
        as_tuples = spec_or_spec_error(lambda: validate_data(tupled(data), base_dir=child_dir))
        assert verdicts["data"] or not as_tuples, "refused with lists, valid with tuples"


# --- raw text -----------------------------------------------------------------------------------

YAML_SNIPPETS = [
    "!!int abc",
    "!!float x",
    "!!bool maybe",
    "!!timestamp x",
    "!!timestamp 2020-13-45",
    "!!set {a}",
    "!!set [a]",
    "!!binary '@@@'",
    "!!binary aGVsbG8=",
    "!!str",
    "!!null x",
    "!!map [a]",
    "!!seq {a: 1}",
    "!!omap [{a: 1}, {a: 2}]",
    "!!pairs [a]",
    "!!merge x",
    "!!int 0x",
    "0o99",
    "0b102",
    "1_0",
    "!<tag:yaml.org,2002:int> x",
    "!local x",
    "!!python/object/apply:os.system ['touch /tmp/autoagent-fuzz-pwned']",
    "!!python/name:os.system",
    "2020-13-45",
    "2020-02-30",
    "2020-02-30T25:61:61Z",
    "2001-12-14t21:59:43.10-05:00",
    "1999-99-99 99:99:99",
    "&a [*a]",
    "&b {k: *b}",
    "*nowhere",
    "&x 1",
    "{<<: *x}",
    "{? {a: 1}: b}",
    "{? [a, b]: c}",
    "[a, [b, [c, [d]]]]",
    ".nan",
    "-.inf",
    "~",
    '"\\ud800"',
    '"\\x00"',
    "'unterminated",
    "|\n  block\n   text",
    ">-",
    "@reserved",
    "`reserved",
    "%",
]
GARBAGE_LINES = [
    "%YAML 1.1",
    "%YAML 9.9",
    "%TAG ! tag:example.com,2000:",
    "---",
    "...",
    "- ",
    "? ",
    ": ",
    "\t- a",
    "  \t: x",
    "name: other",
    "steps: []",
    "steps: !!set {a}",
    "id: &anchor x",
    "<<: *anchor",
    "needs: [a, a, a]",
    "\x00",
    "\ufeff",
    "\x85",
    "\ud800",
    "{",
    "}",
    "[",
    '"',
    "#",
    "key: value: other",
]
LONG_SNIPPETS = [
    repeated("!!int ", "9", 5000),
    repeated("", "9", 5000),
    repeated("-", "1", 4400),
    repeated("!!float ", "9", 400),
    repeated("", "[", 500, "]" * 500),
    repeated("", "{a: ", 300, "1" + "}" * 300),
]
DOCUMENTS = [
    '{"name": "m", "steps": [{"id": "a", "wait": {"seconds": NaN}}]}',
    '{"name": "m", "steps": [{"id": "a", "wait": {"seconds": -Infinity}}]}',
    '{"name": "m", "name": "n", "steps": []}',
    '{"name": "\\ud800", "steps": []}',
    "a: &a [*a, *a]\nname: m\nsteps: *a\n",
    "x0: &x0 [1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    + "".join(
        f"x{i}: &x{i} [*x{i - 1}, *x{i - 1}, *x{i - 1}, *x{i - 1}, *x{i - 1}]\n"
        for i in range(1, 12)
    )
    + "name: m\nsteps: [*x11]\n",
    "name: m\nsteps:\n  - id: a\n    wait: {until: 2020-02-30}\n",
    "name: m\nsteps:\n  - id: a\n    agent: echo\n    input: {value: 2020-13-45}\n",
    "name: m\nsteps:\n  - !!set {id: a}\n",
    "name: m\nsteps:\n  - {id: !!binary aGk=, agent: echo}\n",
    "name: !!int abc\nsteps: []\n",
    "\x00name: m",
    "",
    "   ",
    "---\n---\n",
    "- a\n- b\n",
    "null",
]
LONG_DOCUMENTS = [
    repeated("", "[", 500, "]" * 500),  # 500-deep JSON
    repeated("", '{"a": ', 500, "1" + "}" * 500),
    repeated('{"name": "m", "steps": ', "[", 500, "]" * 500 + "}"),
    repeated(
        '{"name": "m", "steps": [{"id": "a", "agent": "echo", "input": {"value": ',
        "1",
        5000,
        "}}]}",
    ),
    repeated("", "1", 5000),
]


specs = st.one_of(missions, mutated())
serializers = st.sampled_from([as_yaml, as_json])
documents = mostly(DOCUMENTS, LONG_DOCUMENTS)
snippets = mostly(YAML_SNIPPETS, LONG_SNIPPETS)
garbage = st.one_of(st.sampled_from(GARBAGE_LINES), st.text(max_size=20))


@st.composite
def raw_texts(draw: Any) -> tuple[str, str | None]:
    if draw(st.integers(0, 9)) == 0:
        text = draw(documents)
    else:
        data = draw(specs)
        text = draw(serializers)(data) or as_yaml(data) or "name: m"
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["tag", "garbage", "bytes", "dup", "drop", "cut", "indent"]))
        i = draw(st.integers(0, max(len(lines) - 1, 0))) if lines else 0
        if op == "tag" and lines:
            head, sep, _ = lines[i].partition(": ")
            snippet = draw(snippets)
            lines[i] = f"{head}: {snippet}" if sep else f"{lines[i]} {snippet}"
        elif op == "garbage":
            lines.insert(i, draw(garbage))
        elif op == "bytes":
            raw = draw(st.binary(min_size=1, max_size=12))
            codec = draw(st.sampled_from(["latin-1", "surrogateescape"]))
            lines.insert(i, raw.decode("latin-1" if codec == "latin-1" else "utf-8", codec))
        elif op == "dup" and lines:
            lines.insert(i, lines[i])
        elif op == "drop" and lines:
            del lines[i]
        elif op == "cut":
            joined = "\n".join(lines)
            lines = joined[: draw(st.integers(0, len(joined)))].splitlines()
        elif lines:
            lines[i] = draw(st.sampled_from(["\t", "  ", "    ", "- "])) + lines[i]
    fmt = draw(st.sampled_from(["yaml", "json", None]))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"])), fmt


@FUZZ
@given(case=raw_texts())
def test_spec_text_mutations(case: tuple[str, str | None], child_dir: Path) -> None:
    text, fmt = case
    spec_or_spec_error(lambda: loads(text, fmt=fmt, base_dir=child_dir))


# --- interactive.problems(x) for any x ----------------------------------------------------------

anything = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.binary(max_size=10),
    texts,
    st.lists(scalars, max_size=3),
    st.tuples(scalars),
    st.frozensets(hashables, max_size=3).map(set),
    weird_values,
    missions,
    mutated(),
    raw_texts().map(lambda case: case[0]),
)


@FUZZ
@given(x=anything)
def test_problems_of_anything_is_a_list_of_strings(x: Any, child_dir: Path) -> None:
    found = bounded(lambda: problems(x))
    assert isinstance(found, list)
    assert all(isinstance(line, str) for line in found), found


def test_examples_setting_is_honoured() -> None:
    assert FUZZ.max_examples == EXAMPLES
    assert FUZZ.derandomize and FUZZ.database is None
