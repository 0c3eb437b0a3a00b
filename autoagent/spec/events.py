"""YAML text to plain data in one pass over libyaml's events, with every limit checked as it reads.

PyYAML composes a whole node graph, then resolves and constructs each value in Python: ~1.6 s for a
10,000-step spec, and its caps could only be checked once all of it was in memory. Reading the
parser's events directly builds the data, notes each key's line and every duplicate key, and
counts values and bytes with aliases expanded, so a "billion laughs" document, a recursive alias
or nesting too deep stops at the event that crosses the limit. Plain scalars are resolved with
PyYAML's own YAML 1.1 rules and constructed by its SafeConstructor, so values read the same as
``yaml.safe_load`` gives them, except that mapping keys are always the strings written (``on:`` is
the key "on", not True) and a bad value (``!!int abc``, ``2020-13-45``) is a reading problem with
its line instead of an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from autoagent.errors import ReadError

Loc = tuple[str | int, ...]

PARSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML was built with it (~10 times faster), else PyYAML's."""

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SCALAR_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "timestamp")
}
_RESOLVERS = Resolver.yaml_implicit_resolvers
_constructor = SafeConstructor()


@dataclass
class Budget:
    """The reading limits (from settings) and what has been spent of them."""

    max_values: int
    max_bytes: int
    max_depth: int
    values: int = 0
    bytes: int = 0

    def spend(self, values: int, size: int, line: int) -> None:
        self.values += values
        self.bytes += size
        message = self.exceeded()
        if message is not None:
            raise ReadError(message, line)

    def exceeded(self) -> str | None:
        """Which limit what has been spent crosses, as the problem to report; None if none."""
        if self.values > self.max_values:
            return (
                f"document too large: more than {self.max_values} values once aliases expand"
                " (limit AUTOAGENT_MAX_SPEC_VALUES)"
            )
        if self.bytes > self.max_bytes:
            return (
                f"document too large: more than {self.max_bytes} bytes once aliases expand"
                " (limit AUTOAGENT_MAX_EXPANDED_BYTES)"
            )
        return None


def too_deep(limit: int) -> str:
    return f"nested too deeply (more than {limit} levels; limit AUTOAGENT_MAX_DEPTH)"


@dataclass
class _Open:
    """A mapping or sequence being read."""

    loc: Loc
    value: Any  # the dict or list being filled
    anchor: str | None
    spent: tuple[int, int]  # the budget when it started: an alias to it costs the difference
    key: Any = None
    has_key: bool = False
    keys: set[str] = field(default_factory=set)
    merges: list[dict[str, Any]] = field(default_factory=list)
    merging: bool = False  # the value being read is that of a `<<` key


@dataclass
class Read:
    data: Any = None
    lines: dict[Loc, int] = field(default_factory=dict)
    duplicates: list[tuple[Loc, int]] = field(default_factory=list)
    problems: list[tuple[Loc, str]] = field(default_factory=list)  # bad values, read as null


def read(text: str, budget: Budget, *, build: bool = True) -> Read:
    """Read one YAML document; raises ReadError. With ``build=False`` only lines, duplicates and
    limits are gathered (a JSON spec's data comes from ``json.loads``)."""
    out = Read()
    parser = PARSER(text)
    anchors: dict[str, tuple[Any, int, int]] = {}  # name -> (value, values, bytes)
    stack: list[_Open] = []
    documents = 0
    try:
        while True:
            try:
                event = parser.get_event()
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                reason = exc.problem or str(exc).splitlines()[0]
                if "maximum nesting depth" in reason:  # libyaml's own limit
                    reason = too_deep(budget.max_depth)
                line = mark.line + 1 if mark else None
                raise ReadError(f"malformed YAML: {reason}", line) from None
            except yaml.YAMLError as exc:
                raise ReadError(f"malformed YAML: {str(exc).splitlines()[0]}", None) from None
            kind = type(event)
            line = event.start_mark.line + 1
            if kind is yaml.StreamEndEvent:
                return out
            if kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise ReadError("a spec holds one YAML document (found a second '---')", line)
                continue
            if kind in (yaml.StreamStartEvent, yaml.DocumentEndEvent):
                continue
            if kind in (yaml.MappingEndEvent, yaml.SequenceEndEvent):
                done = stack.pop()
                value = _close(done, build)
                if done.anchor is not None:
                    spent = (budget.values - done.spent[0], budget.bytes - done.spent[1])
                    anchors[done.anchor] = (value, *spent)
                _place(stack, out, value, line, build)
                continue
            top = stack[-1] if stack else None
            if top is not None and isinstance(top.value, dict) and not top.has_key:
                _key(top, event, out, line)
                continue
            loc = _loc(top)
            out.lines.setdefault(loc, line)
            if kind is yaml.AliasEvent:
                if event.anchor not in anchors:
                    opened = any(o.anchor == event.anchor for o in stack)
                    raise ReadError(
                        "recursive alias: a value contains itself"
                        if opened
                        else f"unknown alias *{event.anchor}",
                        line,
                    )
                value, values, size = anchors[event.anchor]
                budget.spend(values, size, line)
                _place(stack, out, value, line, build)
            elif kind is yaml.ScalarEvent:
                budget.spend(1, len(event.value) + 1, line)
                try:
                    value = _scalar(event, line) if build else None
                except ReadError as exc:  # a bad value: reported where it is, read as null
                    out.problems.append((loc, exc.message))
                    value = None
                if event.anchor is not None:
                    anchors[event.anchor] = (value, 1, len(event.value) + 1)
                _place(stack, out, value, line, build)
            else:  # a mapping or a sequence starts
                if len(stack) >= budget.max_depth:
                    raise ReadError(too_deep(budget.max_depth), line)
                mapping = kind is yaml.MappingStartEvent
                tag = event.tag
                if tag not in (None, "!", _MAP if mapping else _SEQ):  # read as plain: reported
                    out.problems.append((loc, _not_allowed(tag)))
                budget.spend(1, 2, line)
                spent = (budget.values - 1, budget.bytes - 2)
                container: Any = {} if mapping else []
                stack.append(_Open(loc, container, event.anchor, spent))
    finally:
        parser.dispose()


def _loc(top: _Open | None) -> Loc:
    if top is None:
        return ()
    if isinstance(top.value, dict):
        return (*top.loc, top.key)
    return (*top.loc, len(top.value))


def _key(top: _Open, event: Any, out: Read, line: int) -> None:
    """A mapping key: always the string written (keys name things; ``on`` stays "on")."""
    if not isinstance(event, yaml.ScalarEvent):
        raise ReadError("a mapping key must be a plain string, not a list, mapping or alias", line)
    key = event.value
    top.merging = event.implicit[0] and event.tag is None and key == "<<"
    top.key, top.has_key = key, True
    if top.merging:
        return
    if key in top.keys:
        out.duplicates.append(((*top.loc, key), line))
    top.keys.add(key)
    out.lines[(*top.loc, key)] = line


def _place(stack: list[_Open], out: Read, value: Any, line: int, build: bool) -> None:
    """Put a finished value in the mapping or sequence that holds it (or make it the data)."""
    if not stack:
        out.data = value
        return
    top = stack[-1]
    if isinstance(top.value, list):
        top.value.append(value)
        return
    top.has_key = False
    if top.merging:
        merged = value if isinstance(value, list) else [value]
        if build and not all(isinstance(m, dict) for m in merged):
            raise ReadError("a '<<' merge key takes a mapping or a list of mappings", line)
        top.merges.extend(merged)
        top.merging = False
    elif build:
        top.value[top.key] = value
    else:
        top.value[top.key] = None


def _close(done: _Open, build: bool) -> Any:
    """The finished value; merged keys (``<<: *base``) first, the mapping's own keys win."""
    if not done.merges or not build:
        return done.value
    merged: dict[str, Any] = {}
    for mapping in reversed(done.merges):  # the first merged mapping wins over later ones
        merged.update(mapping)
    merged.update(done.value)
    return merged


def _scalar(event: Any, line: int) -> Any:
    tag = event.tag
    value = event.value
    if tag is None or tag == "!":
        if not event.implicit[0]:
            return value  # quoted: a string
        tag = _resolve(value)
        if tag == _STR:
            return value
    elif tag not in _SCALAR_TAGS:
        raise ReadError(_not_allowed(tag), line)
    if tag == _STR:
        return value
    node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark)
    try:
        return _constructor.yaml_constructors[tag](_constructor, node)
    except Exception as exc:  # PyYAML's constructors raise what the text makes them raise
        what = tag.rsplit(":", 1)[-1]
        detail = "more than 4300 digits" if "digits" in str(exc) else f"not a valid {what}"
        hint = " (quote it to keep it a string)" if event.implicit[0] else ""
        raise ReadError(f"{_short(value)} is {detail}{hint}", line) from None


def _resolve(value: str) -> str:
    """The tag YAML 1.1 gives a plain scalar (PyYAML's rules); a bare ``=`` stays a string."""
    for tag, pattern in _RESOLVERS.get(value[:1], ()):
        if tag != "tag:yaml.org,2002:value" and pattern.match(value):
            return tag
    return _STR


def _not_allowed(tag: str) -> str:
    tag = tag.replace("tag:yaml.org,2002:", "!!")
    shown = repr(tag if len(tag) <= 40 else tag[:37] + "...")
    return (
        f"tag {shown} is not allowed: a spec holds plain mappings, lists, strings, numbers,"
        " booleans and null"
    )


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
