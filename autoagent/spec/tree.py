"""The step tree of a spec being validated, and the rules that follow its shape: which ids a step
may need, which cycles its needs make, and which steps' outputs it may reference.

Everything here is linear in the number of steps (or close): a planner may write thousands of
steps, and validation must answer in time proportional to what it was given. The steps a step may
reference are kept as bit sets (Python ints), built once per group in dependency order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from autoagent.spec.hints import Suggestions
from autoagent.spec.loader import Loc
from autoagent.spec.models import StepFields


@dataclass(eq=False)
class Node:
    """One step as written. ``fields`` is None when the step is too broken to check further."""

    raw: dict[str, Any]
    loc: Loc
    path: str  # "group/child"
    label: str  # the step's id, or where it is ("steps[2]") when it has none
    fields: StepFields | None
    parent: Node | None
    children: list[Node] = field(default_factory=list)

    @property
    def sid(self) -> str | None:
        """The id as written (even an invalid one, so that needs naming it still resolve)."""
        sid = self.raw.get("id")
        return sid if isinstance(sid, str) and sid else None

    @property
    def needs(self) -> list[str]:
        return list(self.fields.needs) if self.fields is not None else []

    @property
    def for_each(self) -> bool:
        return self.fields is not None and self.fields.for_each is not None


def all_nodes(nodes: list[Node]) -> list[Node]:
    """Every node, parents before their children (depth first, in the order written)."""
    out: list[Node] = []
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.children))
    return out


def ancestors(node: Node) -> list[Node]:
    """The enclosing groups, innermost first."""
    out = []
    current = node.parent
    while current is not None:
        out.append(current)
        current = current.parent
    return out


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of steps, as its members in need order, starting
    from the member written first (Tarjan's algorithm, iterative: a chain of any length is
    fine)."""
    order = {name: i for i, name in enumerate(graph)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            name, needs = work[-1]
            for need in needs:
                if need not in graph:
                    continue
                if need not in index:
                    index[need] = low[need] = len(index)
                    stack.append(need)
                    on_stack.add(need)
                    work.append((need, iter(graph[need])))
                    break
                if need in on_stack:
                    low[name] = min(low[name], index[need])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[name])
                if low[name] == index[name]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == name:
                            break
                    if len(component) > 1:
                        components.append(component)
    found = [_cycle_through(min(c, key=order.__getitem__), set(c), graph) for c in components]
    return sorted(found, key=lambda cycle: order[cycle[0]])


def _cycle_through(start: str, members: set[str], graph: dict[str, list[str]]) -> list[str]:
    """A path from ``start`` back to itself inside one strongly connected group (depth first)."""
    path = [start]
    seen = {start}
    work = [iter(graph[start])]
    while work:
        for need in work[-1]:
            if need == start:
                return path
            if need in members and need not in seen:
                seen.add(need)
                path.append(need)
                work.append(iter(graph[need]))
                break
        else:
            work.pop()
            path.pop()
    raise AssertionError("a strongly connected group always has a cycle")  # pragma: no cover


def cross_group_need(node: Node, target: Node) -> str:
    """Why ``node`` cannot need ``target`` (a step of another group) and what to write instead.

    Needs only link siblings; a step reaches further through the needs of its groups.
    """
    mine = [node, *ancestors(node)]
    theirs = [target, *ancestors(target)]
    if target in mine:
        return f"needs {target.label!r}, a group that encloses it: a step cannot need its own group"
    if node in theirs:
        return f"needs {target.label!r}, one of its own steps: a group cannot need its own steps"
    a, b = next((a, b) for a in mine for b in theirs if a.parent is b.parent)
    if a is not node and b is target:
        return (
            f"needs {target.label!r}, which is not in the same group: make the enclosing group"
            f" {a.label!r} need it instead"
        )
    if a is node:
        also = "" if b.for_each else " (a step that needs a group can reference its steps)"
        return (
            f"needs {target.label!r}, which is inside group {b.label!r}: need {b.label!r} instead"
            + also
        )
    return (
        f"needs {target.label!r}, which is in another group: make the enclosing group"
        f" {a.label!r} need {b.label!r} instead"
    )


class Tree:
    """The whole step tree, indexed once: ids, siblings, and what each step may reference."""

    def __init__(self, roots: list[Node]):
        self.roots = roots
        self.nodes = all_nodes(roots)
        self.everywhere: dict[str, Node] = {}
        for node in self.nodes:
            if node.sid:
                self.everywhere.setdefault(node.sid, node)
        self.bit = {sid: 1 << i for i, sid in enumerate(self.everywhere)}
        self._siblings: dict[int, dict[str, Node]] = {}
        self._closure: dict[Node, int] = {}
        self._exposed: dict[Node, int] = {}
        self._suggestions: dict[int, Suggestions] = {}

    def siblings(self, node: Node | None) -> dict[str, Node]:
        """The steps of a group by id (``None``: the mission's top-level steps)."""
        key = id(node)
        if key not in self._siblings:
            nodes = node.children if node is not None else self.roots
            self._siblings[key] = {n.sid: n for n in nodes if n.sid}
        return self._siblings[key]

    def suggest(self, group: Node | None) -> Suggestions:
        """Did-you-mean hints over the ids of one group."""
        if id(group) not in self._suggestions:
            self._suggestions[id(group)] = Suggestions(self.siblings(group))
        return self._suggestions[id(group)]

    def visible(self, node: Node) -> Visible:
        """Ids whose outputs ``node`` may reference: its transitive needs, the steps inside
        needed groups (not inside for_each groups, whose output is a list), and, level by level,
        the same for each enclosing group."""
        bits = 0
        current: Node | None = node
        while current is not None:
            bits |= self._reach(current)
            current = current.parent
        return Visible(bits, self.bit)

    def _reach(self, start: Node) -> int:
        """Bits of what ``start``'s needs reach among its siblings, memoized; computed in
        post-order without recursion. A need that closes a cycle adds nothing (cycles are
        reported on their own)."""
        if start in self._closure:
            return self._closure[start]
        siblings = self.siblings(start.parent)
        busy = {start}
        work = [(start, iter(start.needs))]
        while work:
            node, needs = work[-1]
            for need in needs:
                dep = siblings.get(need)
                if dep is not None and dep not in self._closure and dep not in busy:
                    busy.add(dep)
                    work.append((dep, iter(dep.needs)))
                    break
            else:
                work.pop()
                busy.discard(node)
                bits = 0
                for need in node.needs:
                    dep = siblings.get(need)
                    if dep is not None and dep.sid is not None:
                        bits |= self.bit[dep.sid] | self._exposes(dep)
                        bits |= self._closure.get(dep, 0)
                self._closure[node] = bits
        return self._closure[start]

    def _exposes(self, group: Node) -> int:
        """Bits of the steps of a group that a step needing the group can name directly."""
        if group not in self._exposed:
            bits = 0
            if not group.for_each:
                for child in group.children:
                    if child.sid:
                        bits |= self.bit[child.sid] | self._exposes(child)
            self._exposed[group] = bits
        return self._exposed[group]


@dataclass(frozen=True)
class Visible:
    """A set of ids, held as bits of ``Tree.bit``."""

    bits: int
    bit: dict[str, int]

    def __contains__(self, sid: object) -> bool:
        return isinstance(sid, str) and bool(self.bits & self.bit.get(sid, 0))
