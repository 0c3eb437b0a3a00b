"""Reading spec files: YAML or JSON text into plain data plus a map from paths to line numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autoagent.errors import Problem

Loc = tuple[str | int, ...]


@dataclass
class Document:
    """Parsed spec text: the data, where each path starts (1-based lines) and reading problems."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    file: str | None = None

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
        problem = Problem(
            mission=_guess_name(file),
            step=None,
            field=None,
            message=f"malformed JSON: {exc.msg}",
            line=exc.lineno,
            file=file,
        )
        return Document(data=None, problems=[problem], file=file)
    return Document(data=data, file=file)


def _read_yaml(text: str, file: str | None) -> Document:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problem = Problem(
            mission=_guess_name(file),
            step=None,
            field=None,
            message=f"malformed YAML: {reason}",
            line=mark.line + 1 if mark else None,
            file=file,
        )
        return Document(data=None, problems=[problem], file=file)
    doc = Document(data=data, file=file)
    if node is not None:
        _index(node, (), doc)
    return doc


def _index(node: yaml.Node, loc: Loc, doc: Document) -> None:
    """Record the line of every mapping key and sequence item; flag duplicate keys."""
    doc.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                doc.problems.append(
                    Problem(
                        mission=_guess_name(doc.file),
                        step=None,
                        field=str(key),
                        message="duplicate key (the later value would silently win)",
                        line=key_node.start_mark.line + 1,
                        file=doc.file,
                    )
                )
            seen.add(key)
            doc.lines[(*loc, key)] = key_node.start_mark.line + 1
            _index(value_node, (*loc, key), doc)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), doc)


def _guess_name(file: str | None) -> str:
    return Path(file).stem if file else "<spec>"
