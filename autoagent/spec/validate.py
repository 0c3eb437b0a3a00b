"""Validation of a whole mission spec: every problem of a file, reported together.

The walker validates each step on its own (so one bad step, or one bad field, does not hide the
others), then checks the rules that span steps: unique ids, known needs, no cycles, known agents,
safe expressions, and references only to steps a step (transitively) depends on. The shape of the
tree lives in ``tree.py``, pydantic's messages are rewritten in ``shapes.py`` and expressions are
checked in ``references.py``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, model_validator

from autoagent.errors import ERROR_KINDS, Problem, SpecError
from autoagent.spec.loader import MAX_DEPTH, Document, Loc, read_file, read_text
from autoagent.spec.models import KIND_ERROR, MissionFields, MissionSpec, StepFields, kind_problems
from autoagent.spec.references import Scope, expression_problems
from autoagent.spec.shapes import field_name, translate
from autoagent.spec.tree import Node, all_nodes, cross_group_need, cycles, hint, visible

CHILD_SUFFIXES = (".yaml", ".yml", ".json")


class _AnyKindStep(StepFields):
    """A step's fields without the one-kind rule, which the checker reports from the raw data."""

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> _AnyKindStep:
        return self


def load(path: str | Path) -> MissionSpec:
    """Read and validate a spec file (YAML or JSON); raises SpecError with every problem."""
    return _validate(read_file(path), _seen=frozenset({str(Path(path).resolve())}))


def loads(text: str, *, fmt: str | None = None, base_dir: str | Path | None = None) -> MissionSpec:
    """Validate spec text; ``fmt`` is "json" or "yaml" (guessed when None)."""
    doc = read_text(text, fmt=fmt)
    return _validate(doc, base_dir=Path(base_dir) if base_dir else None, _seen=frozenset())


def validate_data(data: Any, *, base_dir: str | Path | None = None) -> MissionSpec:
    """Validate already-parsed spec data (a planner's output, a flow parameter, a dumped spec)."""
    doc = Document(data=data)
    return _validate(doc, base_dir=Path(base_dir) if base_dir else None, _seen=frozenset())


def _validate(doc: Document, *, base_dir: Path | None = None, _seen: frozenset[str]) -> MissionSpec:
    if doc.file and base_dir is None:
        base_dir = Path(doc.file).resolve().parent
    checker = _Checker(doc, base_dir or Path.cwd(), _seen)
    try:
        spec = checker.run()
    except RecursionError:  # data nested beyond reason (text is capped by the loader)
        checker.add(None, None, f"nested too deeply (more than {MAX_DEPTH} levels)")
        spec = None
    if checker.problems or spec is None:
        raise SpecError(checker.problems)
    spec._checked = True
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
        self.params: set[str] | None = set()  # None: the params are broken, skip their checks
        self.children: dict[str, MissionSpec] = {}
        self.roots: list[Node] = []
        self.everywhere: dict[str, Node] = {}

    def add(self, step: str | None, fld: str | None, message: str, loc: Loc = ()) -> None:
        line = self.doc.line(loc) if self.doc.lines else None
        message = " ".join(message.splitlines())  # a problem is one line
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
            header: MissionFields | None = MissionFields.model_validate(data)
            self.params = set(header.params)
        except ValidationError as exc:
            header = None
            self._shape(None, exc, data, (), MissionFields)
            raw_params = data.get("params", {})
            self.params = set(raw_params) if isinstance(raw_params, dict) else None
        raw_steps = data.get("steps")
        self.roots = self._walk(raw_steps, ("steps",), None) if isinstance(raw_steps, list) else []
        nodes = all_nodes(self.roots)
        for node in nodes:
            if node.sid:
                self.everywhere.setdefault(node.sid, node)
        self._check_duplicate_keys(nodes)
        self._check_ids(nodes)
        self._check_scope(self.roots)
        for node in nodes:
            self._check_scope(node.children)
            if node.fields is not None:
                self._check_step(node)
        if header is not None and header.defaults.retry_on:
            loc = ("defaults", "retry_on")
            self._check_kinds(None, "defaults.retry_on", header.defaults.retry_on, loc)
        self.limits = set(header.concurrency) if header is not None else None
        for node in nodes:
            if node.fields is not None and node.fields.concurrency is not None:
                self._check_limit(node, node.fields.concurrency)
        if self.problems or header is None:
            return None
        built = copy.deepcopy(data)
        self._inline_children(built["steps"], "")
        try:
            return MissionSpec.model_validate(built)
        except ValidationError as exc:  # a rule the walk missed: still a SpecError, never a crash
            self._shape(None, exc, built, (), MissionSpec)
            return None

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
    def _check_duplicate_keys(self, nodes: list[Node]) -> None:
        for key_loc, line in self.doc.duplicates:
            owner = max(
                (n for n in nodes if key_loc[: len(n.loc)] == n.loc),
                key=lambda n: len(n.loc),
                default=None,
            )
            fld = field_name(key_loc[len(owner.loc) :] if owner else key_loc)
            message = "duplicate key (the later value would silently win)"
            self.problems.append(
                Problem(self.mission, owner and owner.label, fld, message, line, self.doc.file)
            )

    def _check_ids(self, nodes: list[Node]) -> None:
        for node in nodes:
            first = self.everywhere.get(node.sid) if node.sid else None
            if first is not None and first is not node:
                line = self.doc.line(first.loc) if self.doc.lines else None
                at = field_name(first.loc) + (f", line {line}" if line else "")
                message = f"duplicate id (first used by {at}); ids are unique in a whole mission"
                self.add(node.sid, "id", message, (*node.loc, "id"))

    def _check_scope(self, nodes: list[Node]) -> None:
        """needs inside one group: known siblings, no cycles."""
        siblings = {n.sid: n for n in nodes if n.sid}
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
                elif need in self.everywhere:
                    message = cross_group_need(node, self.everywhere[need])
                    self.add(node.sid, "needs", message, loc)
                else:
                    message = f"unknown step {need!r}{hint(need, siblings)}"
                    self.add(node.sid, "needs", message, loc)
        for cycle in cycles(graph):
            members = " -> ".join([*cycle, cycle[0]])
            message = f"dependency cycle: {members} (each needs the next)"
            self.add(cycle[0], "needs", message, (*siblings[cycle[0]].loc, "needs"))

    def _check_step(self, node: Node) -> None:
        f = node.fields
        assert f is not None
        if f.agent is not None:
            self._check_agent(node, (), f.agent, f.input)
        if f.compensate is not None:
            self._check_agent(node, ("compensate",), f.compensate.agent, f.compensate.input)
        if f.retry_on:
            self._check_kinds(f.id, "retry_on", f.retry_on, (*node.loc, "retry_on"))
        if f.mission is not None:
            self._check_child(node)
        if f.asset is not None:
            self._check_asset(node, f.asset, f.agent is not None)
        if f.runs_on is not None and f.agent is None:
            message = "only a step with an agent runs on a work pool (put it on the agent steps)"
            self.add(node.label, "runs_on", message, (*node.loc, "runs_on"))
        scope = Scope(self.params, visible(node, self.roots), self.everywhere)
        for where, fld, message in expression_problems(node, scope):
            self.add(f.id, fld, message, (*node.loc, *where))

    def _check_asset(self, node: Node, key: str, has_agent: bool) -> None:
        from autoagent.assets import check_key

        problem = check_key(key)
        if problem is None and not has_agent:
            problem = "only a step with an agent materializes an asset"
        if problem is not None:
            self.add(node.label, "asset", problem, (*node.loc, "asset"))

    def _check_limit(self, node: Node, name: str) -> None:
        """A step's concurrency limit is declared by the mission or in settings."""
        from autoagent.settings import get_settings

        if self.limits is None:  # the mission's own declaration is broken: reported already
            return
        known = self.limits | set(get_settings().concurrency_limits)
        if name not in known:
            message = (
                f"unknown concurrency limit {name!r}{hint(name, known)}: declare it under the"
                " mission's `concurrency` (name: slots) or in AUTOAGENT_CONCURRENCY_LIMITS"
            )
            self.add(node.label, "concurrency", message, (*node.loc, "concurrency"))

    def _check_agent(self, node: Node, at: Loc, agent: str, agent_input: Any) -> None:
        """A known agent (``at`` is ``()`` or ``("compensate",)``) and an input it accepts."""
        from autoagent.agents import agent_names, get_agent, validate_input

        sid, prefix = node.label, "".join(f"{p}." for p in at)
        try:
            found = get_agent(agent)  # a built-in needs no scan of the installed entry points
        except KeyError:
            names = agent_names()
            message = f"unknown agent {agent!r}{hint(agent, names)}"
            self.add(sid, f"{prefix}agent", message, (*node.loc, *at, "agent"))
            return
        known = list(found.input_model.model_fields)
        for text in validate_input(agent, agent_input or {}):
            where, _, message = text.partition(": ")  # "input.command: Field required"
            if not message:
                where, message = "input", text
            parts = tuple(int(p) if p.isdigit() else p for p in where.split("."))
            if message == "Field required":
                message = f"required field is missing (agent {agent!r} needs it)"
            elif message == "Extra inputs are not permitted":
                message = f"unknown field for agent {agent!r}, which takes: {', '.join(known)}"
                message += hint(str(parts[-1]), known)
            self.add(sid, field_name((*at, *parts)), message, (*node.loc, *at, *parts))

    def _check_kinds(self, step: str | None, fld: str, kinds: list[str], loc: Loc) -> None:
        from autoagent.agents import error_kinds

        known = set(ERROR_KINDS) | error_kinds(loaded_only=True)
        if not known.issuperset(kinds):
            known |= error_kinds()
        for i, kind in enumerate(kinds):
            if kind not in known:
                message = f"unknown error kind {kind!r}{hint(kind, known)}"
                self.add(step, fld, message, (*loc, i))

    def _check_child(self, node: Node) -> None:
        f = node.fields
        assert f is not None and f.mission is not None
        loc = (*node.loc, "mission")
        if f.child is not None:  # already inlined: a dumped spec passed back to validate_data
            child_doc, path = Document(data=f.child), None
        else:
            path = self._child_path(f.mission)
            if path is None:
                self.add(f.id, "mission", f"child mission file not found: {f.mission}", loc)
                return
            if str(path) in self.seen:
                message = f"child mission {f.mission!r} includes itself (directly or deeper down)"
                self.add(f.id, "mission", message, loc)
                return
            child_doc = read_file(path)
        try:
            seen = self.seen | {str(path)} if path else self.seen
            child = _validate(
                child_doc, base_dir=path.parent if path else self.base_dir, _seen=seen
            )
        except SpecError as exc:
            for p in exc.problems:
                self.add(f.id, "mission", f"in child mission {f.mission!r}: {p}", loc)
            return
        for name in sorted(set(f.params or {}) - set(child.params)):
            message = f"child mission {child.name!r} has no param {name!r}"
            self.add(
                f.id,
                f"params.{name}",
                message + hint(name, child.params),
                (*node.loc, "params", name),
            )
        self.children[node.path] = child

    def _child_path(self, mission: str) -> Path | None:
        """The file of a child mission: a path relative to this spec, or a name (``build`` finds
        ``build.yaml``, ``build.yml`` or ``build.json``)."""
        path = (self.base_dir / mission).resolve()
        if path.is_file():
            return path
        if not path.suffix:
            for suffix in CHILD_SUFFIXES:
                if path.with_suffix(suffix).is_file():
                    return path.with_suffix(suffix)
        return None

    def _inline_children(self, raw_steps: list[dict[str, Any]], prefix: str) -> None:
        for raw in raw_steps:
            path = f"{prefix}{raw['id']}"
            if path in self.children:
                raw["child"] = self.children[path].model_dump(mode="json")
            if isinstance(raw.get("steps"), list):
                self._inline_children(raw["steps"], path + "/")
