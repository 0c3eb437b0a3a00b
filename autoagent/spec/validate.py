"""Validation of a whole mission spec: every problem of a file, reported together.

The walker validates each step on its own (so one bad step, or one bad field, does not hide the
others), then checks the rules that span steps: unique ids, known needs, no cycles, known agents,
safe expressions, and references only to steps a step (transitively) depends on. The shape of the
tree lives in ``tree.py``, pydantic's messages are rewritten in ``shapes.py`` and expressions are
checked in ``references.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, model_validator

from autoagent.agents import agent_names
from autoagent.errors import ChildNotFound, PlainError, Problem, SpecError
from autoagent.settings import get_settings
from autoagent.spec import step_rules
from autoagent.spec.agents import AgentDefinition, definition_problems
from autoagent.spec.children import locate
from autoagent.spec.events import too_deep
from autoagent.spec.hints import Suggestions, hint
from autoagent.spec.loader import Document, Loc, budget, read_file, read_text
from autoagent.spec.models import KIND_ERROR, MissionFields, MissionSpec, StepFields, kind_problems
from autoagent.spec.plain import to_plain
from autoagent.spec.references import Scope, expression_problems, shell_warnings
from autoagent.spec.shapes import field_name, translate
from autoagent.spec.tree import Node, Tree, cross_group_need, cycles


class _AnyKindStep(StepFields):
    """A step's fields without the one-kind rule, which the checker reports from the raw data."""

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> _AnyKindStep:
        return self


def load(path: str | Path, *, strict: bool = False) -> MissionSpec:
    """Read and validate a spec file (YAML or JSON); raises SpecError with every problem.

    Warnings (``spec.warnings``: a shell command that interpolates a value unquoted) do not
    fail validation unless ``strict``."""
    seen = frozenset({str(Path(path).resolve())})
    return _validate(read_file(path), _seen=seen, strict=strict)


def loads(
    text: str,
    *,
    fmt: str | None = None,
    base_dir: str | Path | None = None,
    strict: bool = False,
) -> MissionSpec:
    """Validate spec text; ``fmt`` is "json" or "yaml" (guessed when None)."""
    doc = read_text(text, fmt=fmt)
    base = Path(base_dir) if base_dir else None
    return _validate(doc, base_dir=base, _seen=frozenset(), strict=strict)


def validate_data(
    data: Any, *, base_dir: str | Path | None = None, strict: bool = False
) -> MissionSpec:
    """Validate already-parsed spec data (a planner's output, a flow parameter, a dumped spec)."""
    base = Path(base_dir) if base_dir else None
    return _validate(Document(data=data), base_dir=base, _seen=frozenset(), strict=strict)


def _validate(
    doc: Document,
    *,
    base_dir: Path | None = None,
    _seen: frozenset[str],
    _root: Path | None = None,
    strict: bool = False,
) -> MissionSpec:
    if doc.file and base_dir is None:
        base_dir = Path(doc.file).resolve().parent
    base_dir = base_dir or Path.cwd()
    checker = _Checker(doc, base_dir, _root or base_dir, _seen)
    try:
        spec = checker.run()
    except RecursionError:  # a safety net: the reading limits keep nesting far below this
        checker.add(None, None, too_deep(get_settings().max_depth))
        spec = None
    problems = checker.problems + (checker.warnings if strict else [])
    if problems or spec is None:
        raise SpecError(problems)
    spec._checked = True
    spec._warnings = checker.warnings
    return spec


class _Checker:
    def __init__(self, doc: Document, base_dir: Path, root: Path, seen: frozenset[str]):
        self.doc = doc
        self.base_dir = base_dir
        self.root = root  # the top-level spec's folder: child missions stay inside it
        self.seen = seen
        self.problems: list[Problem] = list(doc.problems)
        self.warnings: list[Problem] = []  # things that run, but probably not as meant
        data = doc.data
        name = data.get("name") if isinstance(data, dict) else None
        fallback = Path(doc.file).stem if doc.file else "<spec>"
        self.mission = name if isinstance(name, str) and name else fallback
        self.params: set[str] | None = set()  # None: the params are broken, skip their checks
        self.children: dict[str, MissionSpec] = {}
        self.agents: dict[str, AgentDefinition | None] = {}
        self.tool_missions: dict[tuple[str, int], MissionSpec] = {}
        self.tree = Tree([])

    def add(self, step: str | None, fld: str | None, message: str, loc: Loc = ()) -> None:
        self.problems.append(self._problem(step, fld, message, loc))

    def warn(self, step: str | None, fld: str | None, message: str, loc: Loc = ()) -> None:
        self.warnings.append(self._problem(step, fld, message, loc))

    def _problem(self, step: str | None, fld: str | None, message: str, loc: Loc) -> Problem:
        line = self.doc.line(loc) if self.doc.lines else None
        message = " ".join(message.splitlines())  # a problem is one line
        return Problem(self.mission, step, fld, message, line, self.doc.file)

    # -- structure -------------------------------------------------------------------------
    def run(self) -> MissionSpec | None:
        if self.doc.problems and self.doc.data is None:
            return None
        try:  # from here on the data is JSON values only, and a copy this check may change
            data, found = to_plain(self.doc.data, budget())
        except PlainError as exc:  # named at its step and the field it starts in
            step, rest = self._owner(exc.loc)
            self.add(step, field_name(rest[:2]), exc.message, exc.loc)
            return None
        self.doc.data = data
        for loc, message in [*self.doc.bad_values, *found]:
            step, rest = self._owner(loc)
            self.add(step, field_name(rest), message, loc)
        if not isinstance(data, dict):
            self.add(None, None, "a spec must be a mapping with at least 'name' and 'steps'")
            return None
        try:
            header: MissionFields | None = MissionFields.model_validate(data)
            self.params = set(header.params)
            self.agents = dict(header.agents)
            tools = [t for a in header.agents.values() for t in a.tools if t.agent is not None]
            registered = set(agent_names()) if tools else None
            for where, message in definition_problems(header.agents, registered):
                loc = ("agents", *where)
                self.add(None, field_name(loc), message, loc)
            self._check_tool_missions(header.agents)
        except ValidationError as exc:
            header = None
            self._shape(None, exc, data, (), MissionFields)
            raw_params = data.get("params", {})
            self.params = set(raw_params) if isinstance(raw_params, dict) else None
            raw_agents = data.get("agents")  # broken ones are reported: steps may still name them
            if isinstance(raw_agents, dict):
                self.agents = dict.fromkeys(raw_agents)
        raw_steps = data.get("steps")
        limit = get_settings().max_steps
        if isinstance(raw_steps, list) and _count_steps(raw_steps) > limit:
            message = f"too many steps: more than {limit} (limit AUTOAGENT_MAX_STEPS)"
            self.add(None, "steps", message, ("steps",))
            return None
        roots = self._walk(raw_steps, ("steps",), None) if isinstance(raw_steps, list) else []
        self.tree = tree = Tree(roots)
        nodes = tree.nodes
        self.param_hints = Suggestions(self.params or ())
        self.step_hints = Suggestions(tree.everywhere)
        self._check_duplicate_keys()
        self._check_ids(nodes)
        self._check_scope(None)
        for node in nodes:
            self._check_scope(node)
            if node.fields is not None:
                self._check_step(node)
        if header is not None and header.defaults.retry_on:
            for where, _, message in step_rules.kinds(header.defaults.retry_on):
                loc = ("defaults", "retry_on", *where[1:])
                self.add(None, "defaults.retry_on", message, loc)
        if header is not None:  # else the mission's own declaration is broken: reported already
            for node in nodes:
                if node.fields is not None and node.fields.concurrency is not None:
                    message = step_rules.limit(node.fields.concurrency, set(header.concurrency))
                    if message:
                        self.add(node.label, "concurrency", message, (*node.loc, "concurrency"))
        if self.problems or header is None:
            return None
        self._inline_children(data["steps"], "")
        self._inline_tool_missions(data)
        try:
            return MissionSpec.model_validate(data)
        except ValidationError as exc:  # a rule the walk missed: still a SpecError, never a crash
            self._shape(None, exc, data, (), MissionSpec)
            return None

    def _owner(self, loc: Loc) -> tuple[str | None, Loc]:
        """The step a location is in (its label) and the location inside that step."""
        label, start, value = None, 0, self.doc.data
        for i, part in enumerate(loc):
            in_list = isinstance(value, list) and isinstance(part, int) and part < len(value)
            if not (in_list or (isinstance(value, dict) and part in value)):
                break
            value = value[part]
            if i == start + 1 and loc[start] == "steps" and isinstance(value, dict):
                sid = value.get("id")
                label = sid if isinstance(sid, str) and sid else f"steps[{part}]"
                start = i + 1
        return label, loc[start:]

    def _walk(self, raw_steps: list[Any], loc: Loc, parent: Node | None) -> list[Node]:
        nodes = []
        prefix = f"{parent.path}/" if parent else ""
        for i, raw in enumerate(raw_steps):
            here = (*loc, i)
            where = f"{prefix}steps[{i}]"
            if not isinstance(raw, dict):
                self.add(where, None, "a step must be a mapping with an 'id'", here)
                continue
            sid = raw.get("id")
            label = sid if isinstance(sid, str) and sid else where
            node = Node(
                raw, here, f"{prefix}{label}", label, self._fields(raw, label, here), parent
            )
            present = [k for k, v in raw.items() if v is not None]
            for fld, message in kind_problems(present):
                self.add(label, fld, message, (*here, fld))
            if isinstance(raw.get("steps"), list):
                node.children = self._walk(raw["steps"], (*here, "steps"), node)
            nodes.append(node)
        return nodes

    def _fields(self, raw: dict[str, Any], label: str, loc: Loc) -> StepFields | None:
        """The step's fields; when some are wrong, report them and go on without them."""
        try:
            return _AnyKindStep.model_validate(raw)
        except ValidationError as exc:
            self._shape(label, exc, raw, loc, StepFields)
            bad = {err["loc"][0] for err in exc.errors() if err["loc"]}
        try:
            return _AnyKindStep.model_validate({k: v for k, v in raw.items() if k not in bad})
        except ValidationError:
            return None  # the id itself is wrong: reported above

    def _shape(
        self, step: str | None, exc: ValidationError, raw: Any, loc: Loc, model: type[BaseModel]
    ) -> None:
        errors = [err for err in exc.errors() if err["type"] != KIND_ERROR]
        for where, fld, message in translate(errors, raw, model):
            self.add(step, fld, message, (*loc, *where))

    # -- rules across steps ----------------------------------------------------------------
    def _check_duplicate_keys(self) -> None:
        by_loc = {node.loc: node for node in self.tree.nodes}
        for key_loc, line in self.doc.duplicates:
            owner = next(
                (by_loc[key_loc[:k]] for k in range(len(key_loc), 0, -1) if key_loc[:k] in by_loc),
                None,
            )
            fld = field_name(key_loc[len(owner.loc) :] if owner else key_loc)
            message = "duplicate key (the later value would silently win)"
            self.problems.append(
                Problem(self.mission, owner and owner.label, fld, message, line, self.doc.file)
            )

    def _check_ids(self, nodes: list[Node]) -> None:
        for node in nodes:
            first = self.tree.everywhere.get(node.sid) if node.sid else None
            if first is not None and first is not node:
                line = self.doc.line(first.loc) if self.doc.lines else None
                at = field_name(first.loc) + (f", line {line}" if line else "")
                message = f"duplicate id (first used by {at}); ids are unique in a whole mission"
                self.add(node.sid, "id", message, (*node.loc, "id"))

    def _check_scope(self, group: Node | None) -> None:
        """needs inside one group (``None``: the top level): known siblings, no cycles."""
        nodes = group.children if group is not None else self.tree.roots
        siblings = self.tree.siblings(group)
        everywhere = self.tree.everywhere
        graph: dict[str, list[str]] = {}
        for node in nodes:
            if not node.sid:
                continue
            graph.setdefault(node.sid, [])
            for j, need in enumerate(node.needs):
                loc = (*node.loc, "needs", j)
                if need == node.sid:
                    self.add(node.sid, "needs", "a step cannot need itself", loc)
                elif need in siblings:
                    graph[node.sid].append(need)
                elif need in everywhere:
                    message = cross_group_need(node, everywhere[need])
                    self.add(node.sid, "needs", message, loc)
                else:
                    message = f"unknown step {need!r}{self.tree.suggest(group).hint(need)}"
                    self.add(node.sid, "needs", message, loc)
        for cycle in cycles(graph):
            members = " -> ".join([*cycle, cycle[0]])
            message = f"dependency cycle: {members} (each needs the next)"
            self.add(cycle[0], "needs", message, (*siblings[cycle[0]].loc, "needs"))

    def _check_step(self, node: Node) -> None:
        f = node.fields
        assert f is not None
        if f.mission is not None:
            self._check_child(node)
        for where, fld, message in step_rules.problems(f, self.agents):
            self.add(node.label, fld, message, (*node.loc, *where))
        tree = self.tree
        scope = Scope(
            self.params, tree.visible(node), tree.everywhere, self.param_hints, self.step_hints
        )
        for where, fld, message in expression_problems(node, scope):
            self.add(f.id, fld, message, (*node.loc, *where))
        for where, fld, message in shell_warnings(node):
            self.warn(f.id, fld, message, (*node.loc, *where))

    def _check_child(self, node: Node) -> None:
        f = node.fields
        assert f is not None and f.mission is not None
        loc = (*node.loc, "mission")
        if f.child is not None:  # already inlined: a dumped spec passed back to validate_data
            child_doc, path = Document(data=f.child), None
        else:
            try:
                path = locate(f.mission, self.base_dir, self.root)
            except ChildNotFound as exc:
                self.add(f.id, "mission", str(exc), loc)
                return
            if str(path) in self.seen:
                message = f"child mission {f.mission!r} includes itself (directly or deeper down)"
                self.add(f.id, "mission", message, loc)
                return
            child_doc = read_file(path)
        try:
            seen = self.seen | {str(path)} if path else self.seen
            base_dir = path.parent if path else self.base_dir
            child = _validate(child_doc, base_dir=base_dir, _seen=seen, _root=self.root)
        except SpecError as exc:
            for p in exc.problems:
                self.add(f.id, "mission", f"in child mission {f.mission!r}: {p}", loc)
            return
        for p in child.warnings:
            self.warn(f.id, "mission", f"in child mission {f.mission!r}: {p}", loc)
        for name in sorted(set(f.params or {}) - set(child.params)):
            message = f"child mission {child.name!r} has no param {name!r}"
            self.add(
                f.id,
                f"params.{name}",
                message + hint(name, child.params),
                (*node.loc, "params", name),
            )
        self.children[node.path] = child

    def _check_tool_missions(self, agents: dict[str, AgentDefinition]) -> None:
        """A ``mission`` tool names a spec that validates (read once, kept for inlining)."""
        for name, agent in agents.items():
            for i, tool in enumerate(agent.tools):
                if tool.mission is None or tool.child is not None:
                    continue
                loc = ("agents", name, "tools", i, "mission")
                fld = field_name(loc)
                try:
                    path = locate(tool.mission, self.base_dir, self.root)
                except ChildNotFound as exc:
                    self.add(None, fld, str(exc), loc)
                    continue
                if str(path) in self.seen:
                    self.add(None, fld, f"mission {tool.mission!r} includes itself", loc)
                    continue
                try:
                    child = _validate(
                        read_file(path),
                        base_dir=path.parent,
                        _seen=self.seen | {str(path)},
                        _root=self.root,
                    )
                except SpecError as exc:
                    for p in exc.problems:
                        self.add(None, fld, f"in mission {tool.mission!r}: {p}", loc)
                    continue
                self.tool_missions[(name, i)] = child

    def _inline_tool_missions(self, data: dict[str, Any]) -> None:
        for (name, i), child in self.tool_missions.items():
            data["agents"][name]["tools"][i]["child"] = child.model_dump(mode="json")

    def _inline_children(self, raw_steps: list[dict[str, Any]], prefix: str) -> None:
        for raw in raw_steps:
            path = f"{prefix}{raw['id']}"
            if path in self.children:
                raw["child"] = self.children[path].model_dump(mode="json")
            if isinstance(raw.get("steps"), list):
                self._inline_children(raw["steps"], path + "/")


def _count_steps(raw_steps: list[Any]) -> int:
    """Steps in a tree of step lists, groups included (iteratively: any depth is fine)."""
    count, todo = 0, [raw_steps]
    while todo:
        for raw in todo.pop():
            count += 1
            if isinstance(raw, dict) and isinstance(raw.get("steps"), list):
                todo.append(raw["steps"])
    return count
