"""Reading spec files: YAML or JSON text into plain data plus a map from paths to line numbers.

JSON text is also composed by the YAML parser (JSON is, in practice, YAML) only to learn where each
key starts, so problems in JSON specs carry lines too. YAML aliases are followed when indexing, with
a cap on the expanded size: a "billion laughs" document or a recursive alias is a reading problem,
not a hang.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autoagent.errors import Problem

Loc = tuple[str | int, ...]

MAX_NODES = 100_000  # values in a document once its YAML aliases are expanded
MAX_DEPTH = 100  # levels of nesting
TOO_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels)"


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

    def line(self, loc: Loc) -> int | None:
        """The line of ``loc`` or of its nearest ancestor that has one."""
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get(())


def read_text(text: str, *, file: str | None = None, fmt: str | None = None) -> Document:
    """Parse ``text`` as JSON (``fmt="json"`` or a leading ``{``) or YAML (everything else)."""
    if fmt == "json" or (fmt is None and text.lstrip().startswith("{")):
        return _read_json(text, file)
    return _read_yaml(text, file)


def read_file(path: str | Path) -> Document:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(mission=path.stem, step=None, field=None, message=f"cannot read: {exc}")
        return Document(data=None, problems=[problem], file=str(path))
    fmt = "json" if path.suffix.lower() == ".json" else None
    return read_text(text, file=str(path), fmt=fmt)


def _read_json(text: str, file: str | None) -> Document:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return _malformed(f"malformed JSON: {exc.msg}", exc.lineno, text, file)
    except RecursionError:
        return _malformed(f"malformed JSON: {TOO_DEEP}", None, text, file)
    doc = Document(data=data, file=file)
    try:  # positions only: the data is what json.loads gave
        node = yaml.compose(text, Loader=_LOADER)
        if node is not None:
            _Indexer(doc).index(node, ())
    except yaml.YAMLError:
        doc.lines.clear()
        doc.duplicates.clear()
    return doc


def _read_yaml(text: str, file: str | None) -> Document:
    doc = Document(data=None, file=file)
    loader = _LOADER(text)
    try:  # parsed once: the nodes are indexed, then the data is built from them
        node = loader.get_single_node()
        if node is not None:
            _Indexer(doc).index(node, ())  # first: it stops alias bombs before they are built
            doc.data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "maximum nesting depth" in reason:  # libyaml's own limit
            reason = TOO_DEEP
        return _malformed(f"malformed YAML: {reason}", mark.line + 1 if mark else None, text, file)
    except RecursionError:
        return _malformed(f"malformed YAML: {TOO_DEEP}", None, text, file)
    finally:
        loader.dispose()
    return doc


def _malformed(message: str, line: int | None, text: str, file: str | None) -> Document:
    problem = Problem(_guess_name(text, file), None, None, message, line, file)
    return Document(data=None, problems=[problem], file=file)


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (~10 times faster), else PyYAML's."""


class _Indexer:
    """Records the line of every mapping key and sequence item; notes duplicate keys."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.count = 0
        self.open: set[int] = set()  # ids of the nodes being visited: a repeat is a recursion

    def index(self, node: yaml.Node, loc: Loc) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            message = f"document too large: more than {MAX_NODES} values once aliases expand"
            raise _Stop(message, node.start_mark.line + 1)
        if id(node) in self.open:
            raise _Stop("recursive alias: a value contains itself", node.start_mark.line + 1)
        if len(loc) > MAX_DEPTH:
            raise _Stop(TOO_DEEP, node.start_mark.line + 1)
        self.doc.lines.setdefault(loc, node.start_mark.line + 1)
        self.open.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
                if key in seen:
                    self.doc.duplicates.append(((*loc, key), key_node.start_mark.line + 1))
                seen.add(key)
                self.doc.lines[(*loc, key)] = key_node.start_mark.line + 1
                self.index(value_node, (*loc, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.index(item, (*loc, i))
        self.open.discard(id(node))


class _Stop(yaml.YAMLError):
    def __init__(self, problem: str, line: int | None = None):
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = yaml.Mark("", 0, line - 1, 0, "", 0) if line else None


_NAME = re.compile(r"""^(?:name\s*:|\s*[{,]?\s*"name"\s*:)\s*["']?([A-Za-z0-9_.-]+)""", re.M)


def _guess_name(text: str, file: str | None) -> str:
    """The mission's name for a problem in text that did not parse: its ``name:`` line if any."""
    found = _NAME.search(text)
    if found:
        return found.group(1)
    return Path(file).stem if file else "<spec>"
