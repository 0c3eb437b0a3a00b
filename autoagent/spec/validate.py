"""Validation of a whole mission spec: every problem of a file, reported together.

The walker validates each step on its own (so one bad step does not hide the others), then checks
the rules that span steps: unique ids, known needs, no cycles, known agents, safe expressions, and
references only to steps a step (transitively) depends on.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from autoagent import expressions
from autoagent.errors import ERROR_KINDS, ExpressionError, Problem, SpecError
from autoagent.spec.loader import Document, Loc, read_file, read_text
from autoagent.spec.models import MissionFields, MissionSpec, StepFields


@dataclass
class _Node:
    raw: dict[str, Any]
    loc: Loc
    path: str
    label: str
    fields: StepFields | None
    parent: _Node | None
    children: list[_Node] = field(default_factory=list)


def load(path: str | Path) -> MissionSpec:
    """Read and validate a spec file (YAML or JSON); raises SpecError with every problem."""
    return _validate(read_file(path), _seen=frozenset())


def loads(text: str, *, fmt: str | None = None, base_dir: str | Path | None = None) -> MissionSpec:
    """Validate spec text; ``fmt`` is "json" or "yaml" (guessed when None)."""
    doc = read_text(text, fmt=fmt)
    return _validate(doc, base_dir=Path(base_dir) if base_dir else None, _seen=frozenset())


def validate_data(data: Any, *, base_dir: str | Path | None = None) -> MissionSpec:
    """Validate already-parsed spec data (a planner's output, a flow parameter)."""
    doc = Document(data=data)
    return _validate(doc, base_dir=Path(base_dir) if base_dir else None, _seen=frozenset())


def _validate(doc: Document, *, base_dir: Path | None = None, _seen: frozenset[str]) -> MissionSpec:
    if doc.file and base_dir is None:
        base_dir = Path(doc.file).resolve().parent
    checker = _Checker(doc, base_dir or Path.cwd(), _seen)
    spec = checker.run()
    if checker.problems or spec is None:
        raise SpecError(checker.problems)
    return spec


class _Checker:
    def __init__(self, doc: Document, base_dir: Path, seen: frozenset[str]):
        self.doc = doc
        self.base_dir = base_dir
        self.seen = seen
        self.problems: list[Problem] = list(doc.problems)
        data = doc.data
        name = data.get("name") if isinstance(data, dict) else None
        fallback = Path(doc.file).stem if doc.file else "<spec>"
        self.mission = name if isinstance(name, str) and name else fallback
        self.params: set[str] = set()
        self.children: dict[str, MissionSpec] = {}
        self.roots: list[_Node] = []
        self.everywhere: set[str] = set()

    def add(self, step: str | None, fld: str | None, message: str, loc: Loc = ()) -> None:
        line = self.doc.line(loc) if self.doc.lines else None
        self.problems.append(Problem(self.mission, step, fld, message, line, self.doc.file))

    # -- structure -------------------------------------------------------------------------
    def run(self) -> MissionSpec | None:
        data = self.doc.data
        if self.doc.problems and data is None:
            return None
        if not isinstance(data, dict):
            self.add(None, None, "a spec must be a mapping with at least 'name' and 'steps'")
            return None
        try:
            header = MissionFields.model_validate(data)
            self.params = set(header.params)
        except ValidationError as exc:
            header = None
            for err in exc.errors():
                self._pydantic(None, err, ())
            if isinstance(data.get("params"), dict):
                self.params = set(data["params"])
        raw_steps = data.get("steps")
        roots = self._walk(raw_steps, ("steps",), None) if isinstance(raw_steps, list) else []
        self.roots = roots
        self.everywhere = {n.fields.id for n in _all(roots) if n.fields is not None}
        self._check_scope(roots)
        for node in _all(roots):
            self._check_scope(node.children)
        self._check_ids(roots)
        for node in _all(roots):
            if node.fields is not None:
                self._check_step(node)
        if header is not None and header.defaults.retry_on:
            self._check_kinds(None, "defaults.retry_on", header.defaults.retry_on, ("defaults",))
        if self.problems or header is None:
            return None
        built = copy.deepcopy(data)
        self._inline_children(built.get("steps", []), "")
        return MissionSpec.model_validate(built)

    def _walk(self, raw_steps: list[Any], loc: Loc, parent: _Node | None) -> list[_Node]:
        nodes = []
        prefix = f"{parent.path}/" if parent else ""
        for i, raw in enumerate(raw_steps):
            here = (*loc, i)
            if not isinstance(raw, dict):
                where = f"{parent.label}.steps[{i}]" if parent else f"steps[{i}]"
                self.add(where, None, "a step must be a mapping with an 'id'", here)
                continue
            sid = raw.get("id")
            label = sid if isinstance(sid, str) and sid else f"{prefix}steps[{i}]"
            try:
                fields = StepFields.model_validate(raw)
            except ValidationError as exc:
                fields = None
                for err in exc.errors():
                    self._pydantic(label, err, here)
            node = _Node(raw, here, f"{prefix}{label}", label, fields, parent)
            if isinstance(raw.get("steps"), list):
                node.children = self._walk(raw["steps"], (*here, "steps"), node)
            nodes.append(node)
        return nodes

    def _pydantic(self, step: str | None, err: Any, loc: Loc) -> None:
        where = tuple(err["loc"])
        fld = ".".join(str(p) for p in where) or None
        kind = err["type"]
        if kind == "extra_forbidden":
            message = "unknown field"
        elif kind == "missing":
            message = "required field is missing"
        else:
            message = err["msg"].removeprefix("Value error, ")
            if kind not in ("value_error", "assertion_error") and "input" in err:
                message += f" (got {_short(err['input'])})"
        self.add(step, fld, message, (*loc, *where))

    # -- rules across steps ----------------------------------------------------------------
    def _check_ids(self, roots: list[_Node]) -> None:
        first: dict[str, _Node] = {}
        for node in _all(roots):
            if node.fields is None:
                continue
            sid = node.fields.id
            if sid in first:
                other = first[sid]
                line = self.doc.line(other.loc) if self.doc.lines else None
                at = f"line {line}" if line else f"path {other.path}"
                self.add(sid, "id", f"duplicate id (first used at {at})", (*node.loc, "id"))
            else:
                first[sid] = node

    def _check_scope(self, nodes: list[_Node]) -> None:
        """needs inside one group: known siblings, no cycles."""
        siblings = {n.fields.id: n for n in nodes if n.fields is not None}
        everywhere = self.everywhere
        graph: dict[str, list[str]] = {}
        for node in nodes:
            if node.fields is None:
                continue
            sid = node.fields.id
            graph[sid] = []
            for j, need in enumerate(node.fields.needs):
                loc = (*node.loc, "needs", j)
                if need == sid:
                    self.add(sid, "needs", "a step cannot need itself", loc)
                elif need in siblings:
                    graph[sid].append(need)
                elif need in everywhere:
                    self.add(
                        sid,
                        "needs",
                        f"needs {need!r}, which is not in the same group:"
                        " make the enclosing group need it instead",
                        loc,
                    )
                else:
                    self.add(sid, "needs", f"unknown step {need!r}{_hint(need, siblings)}", loc)
        for cycle in _cycles(graph):
            node = siblings[cycle[0]]
            members = " -> ".join([*cycle, cycle[0]])
            self.add(cycle[0], "needs", f"dependency cycle: {members}", (*node.loc, "needs"))

    def _check_step(self, node: _Node) -> None:
        f = node.fields
        assert f is not None
        from autoagent.agents import agent_names, validate_input

        names = agent_names()
        for fld, agent, agent_input in (
            ("agent", f.agent, f.input),
            (
                "compensate.agent",
                f.compensate and f.compensate.agent,
                f.compensate and f.compensate.input,
            ),
        ):
            if agent is None:
                continue
            if agent not in names:
                self.add(
                    f.id,
                    fld,
                    f"unknown agent {agent!r}{_hint(agent, names)}",
                    (*node.loc, *fld.split(".")),
                )
            else:
                prefix = fld.removesuffix("agent") + "input"
                for msg in validate_input(agent, agent_input or {}):
                    self.add(f.id, prefix, msg, (*node.loc, *prefix.split(".")))
        if f.retry_on:
            self._check_kinds(f.id, "retry_on", f.retry_on, (*node.loc, "retry_on"))
        if f.mission is not None:
            self._check_child(node)
        self._check_expressions(node)

    def _check_kinds(self, step: str | None, fld: str, kinds: list[str], loc: Loc) -> None:
        from autoagent.agents import agent_names, get_agent

        known = set(ERROR_KINDS)
        for name in agent_names():
            known |= set(getattr(get_agent(name), "error_kinds", ()))
        for kind in kinds:
            if kind not in known:
                self.add(step, fld, f"unknown error kind {kind!r}{_hint(kind, known)}", loc)

    def _check_expressions(self, node: _Node) -> None:
        f = node.fields
        assert f is not None
        deps = self._dependencies(node)
        in_for_each = any(
            a.fields is not None and a.fields.for_each is not None for a in _ancestors(node)
        )
        exprs: list[tuple[str, Any, bool]] = [
            ("input", f.input, True),
            ("params", f.params, True),
            ("compensate.input", f.compensate.input if f.compensate else None, True),
            ("when", _as_expression(f.when), False),
            ("for_each", _as_expression(f.for_each), False),
        ]
        if f.approval is not None:
            exprs += [
                ("approval.title", f.approval.title, True),
                ("approval.description", f.approval.description, True),
            ]
        if f.wait is not None:
            exprs += [("wait", f.wait.model_dump(mode="json", exclude_none=True), True)]
        if f.event is not None:
            exprs += [("event.key", f.event.key, True)]
        for fld, value, item_ok in exprs:
            if value is None:
                continue
            loc = (*node.loc, *fld.split("."))
            try:
                info = expressions.collect(value)
            except ExpressionError as exc:
                self.add(f.id, fld, f"unsafe or malformed expression: {exc}", loc)
                continue
            for param in sorted(info.param_refs - self.params):
                self.add(f.id, fld, f"unknown param {param!r}{_hint(param, self.params)}", loc)
            own = {f.id} if fld == "compensate.input" else set()
            for ref in sorted(info.step_refs - deps - own):
                self.add(
                    f.id,
                    fld,
                    f"references step {ref!r}, which is not a dependency:"
                    f" add it to 'needs' (directly or through a needed step)",
                    loc,
                )
            if info.uses_item and not (in_for_each or (item_ok and f.for_each is not None)):
                self.add(f.id, fld, "'item' is only defined inside a for_each step", loc)

    def _dependencies(self, node: _Node) -> set[str]:
        """Ids a step may reference: its transitive needs (groups include their descendants),
        and everything its enclosing groups depend on."""
        deps: set[str] = set()
        current: _Node | None = node
        while current is not None:
            siblings = current.parent.children if current.parent else self.roots
            by_id = {n.fields.id: n for n in siblings if n.fields is not None}
            todo = list(current.fields.needs) if current.fields else []
            while todo:
                sid = todo.pop()
                if sid in deps or sid not in by_id:
                    continue
                deps.add(sid)
                dep = by_id[sid]
                deps |= {d.fields.id for d in _all(dep.children) if d.fields is not None}
                todo.extend(dep.fields.needs if dep.fields else [])
            current = current.parent
        return deps

    def _check_child(self, node: _Node) -> None:
        f = node.fields
        assert f is not None and f.mission is not None
        path = (self.base_dir / f.mission).resolve()
        loc = (*node.loc, "mission")
        if str(path) in self.seen:
            self.add(f.id, "mission", f"child mission {f.mission!r} includes itself", loc)
            return
        if not path.is_file():
            self.add(f.id, "mission", f"child mission file not found: {f.mission}", loc)
            return
        try:
            child = _validate(read_file(path), _seen=self.seen | {str(path)})
        except SpecError as exc:
            for p in exc.problems:
                self.add(f.id, "mission", f"in child mission {f.mission!r}: {p}", loc)
            return
        for name in sorted(set(f.params or {}) - set(child.params)):
            self.add(
                f.id,
                f"params.{name}",
                f"child mission {child.name!r} has no param"
                f" {name!r}{_hint(name, set(child.params))}",
                (*node.loc, "params", name),
            )
        self.children[node.path] = child

    def _inline_children(self, raw_steps: list[dict[str, Any]], prefix: str) -> None:
        for raw in raw_steps:
            path = f"{prefix}{raw['id']}"
            if path in self.children:
                raw["child"] = self.children[path].model_dump(mode="json")
            if isinstance(raw.get("steps"), list):
                self._inline_children(raw["steps"], path + "/")


def _as_expression(value: Any) -> Any:
    """``when``/``for_each`` may be written bare (``params.x > 1``): treat as one expression."""
    if isinstance(value, str) and not expressions.is_template(value):
        return "{{ " + value + " }}"
    return value if isinstance(value, str | list) else None


def _all(nodes: list[_Node]) -> list[_Node]:
    out: list[_Node] = []
    for node in nodes:
        out.append(node)
        out.extend(_all(node.children))
    return out


def _ancestors(node: _Node) -> list[_Node]:
    out = []
    current = node.parent
    while current is not None:
        out.append(current)
        current = current.parent
    return out


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each elementary cycle found by DFS, once, as the list of its members."""
    color: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def visit(n: str) -> None:
        color[n] = 1
        stack.append(n)
        for m in graph.get(n, []):
            if color.get(m) == 1:
                cycle = stack[stack.index(m) :]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    found.append(cycle)
            elif color.get(m) is None:
                visit(m)
        stack.pop()
        color[n] = 2

    for n in graph:
        if color.get(n) is None:
            visit(n)
    return found


def _hint(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, sorted(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
