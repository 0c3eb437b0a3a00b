"""Reading spec files: YAML or JSON text into plain data plus a map from paths to line numbers.

Every limit is checked while reading, before memory grows: the file's size before it is read,
the values, expanded bytes and depth as libyaml's events arrive (``events.py``). JSON data comes
from ``json.loads``; its text is also scanned as YAML (JSON is, in practice, YAML) only to learn
where each key starts, so problems in JSON specs carry lines too.
"""

from __future__ import annotations

import itertools
import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoagent.errors import Problem, ReadError
from autoagent.settings import get_settings
from autoagent.spec import events
from autoagent.spec.events import Budget, Loc
from autoagent.spec.plain import to_plain

__all__ = ["Document", "Loc", "ReadError", "budget", "read_file", "read_text", "read_value"]

_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")


@dataclass
class Document:
    """Parsed spec text: the data, where each path starts (1-based lines) and reading problems.

    ``duplicates`` holds the location and line of every repeated mapping key; the validator turns
    them into problems that name the step they belong to.
    """

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    file: str | None = None
    duplicates: list[tuple[Loc, int]] = field(default_factory=list)
    bad_values: list[tuple[Loc, str]] = field(default_factory=list)  # read as null

    def line(self, loc: Loc) -> int | None:
        """The line of ``loc`` or of its nearest ancestor that has one."""
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get(())


def budget() -> Budget:
    """A fresh reading budget from the settings."""
    settings = get_settings()
    return Budget(settings.max_spec_values, settings.max_expanded_bytes, settings.max_depth)


def read_text(text: str, *, file: str | None = None, fmt: str | None = None) -> Document:
    """Parse ``text`` as JSON (``fmt="json"`` or a leading ``{``) or YAML (everything else)."""
    limit = get_settings().max_spec_bytes
    if len(text) > limit:  # characters: a cheap lower bound of the bytes
        return _too_large(len(text), limit, text, file)
    bad = _surrogate(text)
    if bad is not None:  # libyaml reads UTF-8; a lone surrogate cannot be stored either
        message = (
            f"not valid Unicode: a lone surrogate at character {bad} (line {_line(text, bad)})"
        )
        return _malformed(message, _line(text, bad), text, file)
    if fmt == "json" or (fmt is None and text.lstrip().startswith("{")):
        return _read_json(text, file)
    return _read_yaml(text, file)


def read_file(path: str | Path) -> Document:
    path = Path(path)
    limit = get_settings().max_spec_bytes
    try:
        with path.open("rb") as stream:  # at most the limit: /dev/zero is not read to the end
            raw = stream.read(limit + 1)
        if len(raw) > limit:
            return _too_large(None, limit, "", str(path))
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        message = f"cannot read: {_reason(exc)}"
        problem = Problem(mission=path.stem, step=None, field=None, message=message)
        return Document(data=None, problems=[problem], file=str(path))
    fmt = "json" if path.suffix.lower() == ".json" else None
    return read_text(text, file=str(path), fmt=fmt)


def read_value(text: str) -> Any:
    """One value written as YAML (a ``--param`` or ``--field`` on the command line), read by the
    same rules and limits as a spec; raises ReadError with a one-line message."""
    if len(text) > get_settings().max_spec_bytes:
        raise ReadError("value too large (limit AUTOAGENT_MAX_SPEC_BYTES)", None)
    found = events.read(text, budget())
    if found.problems:
        raise ReadError(found.problems[0][1], None)
    value, problems = to_plain(found.data, budget())
    if problems:
        raise ReadError(problems[0][1], None)
    return value


def _surrogate(text: str) -> int | None:
    """Where the first lone surrogate is (a str from Python may hold one; UTF-8 cannot)."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()  # no path echoed back: the problem names the file already
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _too_large(size: int | None, limit: int, text: str, file: str | None) -> Document:
    got = f" ({size} characters)" if size is not None else ""
    message = f"spec too large{got}: at most {limit} bytes (limit AUTOAGENT_MAX_SPEC_BYTES)"
    return _malformed(message, None, text[:10_000], file)


def _read_json(text: str, file: str | None) -> Document:
    doc = Document(data=None, file=file)
    try:  # limits and positions first, from the text as YAML; the data is what json.loads gives
        found = events.read(text, budget(), build=False)
        doc.lines, doc.duplicates = found.lines, found.duplicates
    except ReadError as exc:
        if not exc.message.startswith("malformed YAML"):  # a limit: JSON has the same ones
            return _malformed(exc.message, exc.line, text, file)
        doc.lines.clear()  # valid JSON that YAML does not read (rare): no lines, that is all
        doc.duplicates.clear()
    try:
        doc.data = json.loads(text)
    except json.JSONDecodeError as exc:
        return _malformed(f"malformed JSON: {exc.msg}", exc.lineno, text, file)
    except RecursionError:
        return _malformed(
            f"malformed JSON: {events.too_deep(budget().max_depth)}", None, text, file
        )
    except ValueError as exc:  # an integer past Python's 4300 digits
        reason = "an integer has more than 4300 digits" if "digits" in str(exc) else str(exc)
        return _malformed(f"malformed JSON: {reason}", None, text, file)
    return doc


def _read_yaml(text: str, file: str | None) -> Document:
    try:
        found = events.read(text, budget())
    except ReadError as exc:
        return _malformed(exc.message, exc.line, text, file)
    return Document(found.data, found.lines, [], file, found.duplicates, found.problems)


def _malformed(message: str, line: int | None, text: str, file: str | None) -> Document:
    problem = Problem(_guess_name(text, file), None, None, message, line, file)
    return Document(data=None, problems=[problem], file=file)


def _guess_name(text: str, file: str | None) -> str:
    """The mission's name for a problem in text that did not parse: its ``name:`` line if any.

    A plain scan of the first lines, not a regular expression over the whole text: hostile text
    must not be able to make this slow."""
    for raw in text[:100_000].splitlines()[:1000]:
        line = raw.strip().lstrip("{,").strip()
        for prefix in ("name", '"name"', "'name'"):
            if line.startswith(prefix) and line[len(prefix) :].lstrip().startswith(":"):
                if prefix == "name" and raw[:1].isspace():
                    continue  # an indented `name:` belongs to something inside the spec
                value = line[len(prefix) :].lstrip()[1:].lstrip().lstrip("\"'")
                name = "".join(itertools.takewhile(_NAME_CHARS.__contains__, value[:64]))
                if name:
                    return name
    return Path(file).stem if file else "<spec>"
