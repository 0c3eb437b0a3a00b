"""What version of a mission a run began on, and whether the code it would resume on differs.

A spec mission is pinned: its spec is a parameter of the run, so a resume runs the same spec
(the run's tag ``spec:<hash>`` names it, server/tags.py). A mission written as code is imported
again on each attempt, so its first attempt records the code it began on: the hash of its
module's code and of each top-level definition in it (comments and layout aside), the git commit
of the checkout that holds the file (``+changes`` when the file differs from it), the version of
the installed package it comes from, AutoAgent's version. A later attempt compares the module
and the package with that record: a commit elsewhere in the checkout is shown, not judged.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import subprocess
from collections.abc import Callable, Mapping
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path
from typing import Any
from uuid import UUID

from autoagent.server import inputs
from autoagent.server.records import VERSION_KEY

SHORT = 12


def _autoagent() -> str:
    try:
        return version("autoagent")
    except PackageNotFoundError:
        return "unknown"


def code_version(function: Callable[..., Any]) -> dict[str, Any]:
    """The version of the code a ``@mission`` function runs: see the module's docstring."""
    found: dict[str, Any] = {"autoagent": _autoagent()}
    function = inspect.unwrap(function)
    try:
        source = Path(inspect.getsourcefile(function) or "")
    except TypeError:
        return found
    if not source.is_file():
        return found
    text = source.read_bytes()
    found["file"] = str(source.resolve())
    found["source"], found["definitions"] = _code(text)
    found["git"] = _git(source)
    found["package"] = _package(function.__module__)
    return found


def record(run_id: UUID, current: dict[str, Any]) -> dict[str, Any]:
    """The version the run began on: recorded now if this is its first attempt (one request
    then, the common case; a later attempt finds the record taken and reads it)."""
    if inputs.write_input(run_id, VERSION_KEY, current):
        return current
    found = inputs.read_input(run_id, VERSION_KEY)
    return found if isinstance(found, dict) else current


def recorded(run_id: UUID) -> dict[str, Any] | None:
    found = inputs.read_input(run_id, VERSION_KEY)
    return found if isinstance(found, dict) else None


def changed(began: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs, in words, between the code a run began on and the code here; empty when
    the mission's file and package are the same (another commit of the checkout is no change)."""
    said = []
    if began.get("source") and began.get("source") != now.get("source"):
        file = now.get("file") or began.get("file")
        said.append(
            f"{file} (sha256 {str(began['source'])[:SHORT]} →"
            f" {str(now.get('source', 'missing'))[:SHORT]})"
        )
        before, after = began.get("definitions") or {}, now.get("definitions") or {}
        names = sorted(n for n in {*before, *after} if before.get(n) != after.get(n))
        if names:
            said.append(f"definitions changed: {', '.join(names)}")
    if began.get("package") and began.get("package") != now.get("package"):
        said.append(f"package {began['package']} → {now.get('package') or 'not installed'}")
    if said and began.get("git") and began.get("git") != now.get("git"):
        said.append(f"git {began['git']} → {now.get('git') or 'no checkout'}")
    return said


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _code(text: bytes) -> tuple[str, dict[str, str]]:
    """The hash of a module's code, and of each of its top-level functions and classes by name:
    of its syntax tree, so comments and layout are no change (of its bytes if it does not
    parse)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return _sha(text), {}
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    definitions = {
        node.name: _sha(ast.dump(node).encode()) for node in tree.body if isinstance(node, kinds)
    }
    return _sha(ast.dump(tree).encode()), definitions


def _git(source: Path) -> str | None:
    """The commit of the checkout holding ``source`` (``+changes`` when the file differs from
    it); None outside a checkout or without git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(source.parent), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(source.parent), "status", "--porcelain", "--", source.name],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


@lru_cache(maxsize=1)
def _distributions() -> Mapping[str, list[str]]:
    """Top-level module names to the installed distributions that provide them (a scan of
    every installed package: once per process)."""
    return packages_distributions()


def _package(module: str) -> str | None:
    """``name==version`` of the installed distribution the module comes from (None: none)."""
    top = module.split(".")[0]
    for name in _distributions().get(top, []):
        try:
            return f"{name}=={version(name)}"
        except PackageNotFoundError:
            continue
    return None
