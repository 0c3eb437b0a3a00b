"""The step tree of a spec being validated, and the rules that follow its shape: which ids a step
may need, which cycles its needs make, and which steps' outputs it may reference."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

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
    """Every node, parents before their children."""
    out: list[Node] = []
    for node in nodes:
        out.append(node)
        out.extend(all_nodes(node.children))
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
    """Each elementary cycle found by DFS, once, as the list of its members in need order."""
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


def visible(node: Node, roots: list[Node]) -> set[str]:
    """Ids whose outputs ``node`` may reference: its transitive needs, the steps inside needed
    groups (not inside for_each groups, whose output is a list), and, level by level, the same
    for each enclosing group."""
    deps: set[str] = set()
    current: Node | None = node
    while current is not None:
        siblings = current.parent.children if current.parent else roots
        by_id = {n.sid: n for n in siblings if n.sid}
        todo = list(current.needs)
        while todo:
            sid = todo.pop()
            if sid in deps or sid not in by_id:
                continue
            deps.add(sid)
            dep = by_id[sid]
            deps |= exposed_descendants(dep)
            todo.extend(dep.needs)
        current = current.parent
    return deps


def exposed_descendants(group: Node) -> set[str]:
    """Steps of a group whose outputs a step that needs the group can name directly."""
    if group.for_each:
        return set()
    out: set[str] = set()
    for child in group.children:
        if child.sid:
            out.add(child.sid)
            out |= exposed_descendants(child)
    return out


def hint(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, sorted(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
