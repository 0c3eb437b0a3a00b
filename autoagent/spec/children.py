"""Where a ``mission:`` step's file is: inside the mission's folder, or under an allowed root.

A spec may come from a planner model, so ``mission: /etc/passwd`` or ``mission: ../../secrets``
must not read a file the user did not put there. A child mission resolves (symbolic links
followed) inside the folder of the top-level spec (for text and data, the current directory, or
the ``base_dir`` given) or under one of ``AUTOAGENT_MISSION_ROOTS``; anything else is a problem
that names the step and echoes nothing read from the file.
"""

from __future__ import annotations

from pathlib import Path

from autoagent.errors import ChildNotFound
from autoagent.settings import get_settings

SUFFIXES = (".yaml", ".yml", ".json")


def locate(mission: str, base_dir: Path, root: Path) -> Path:
    """The file of a child mission: a path relative to the spec that names it, or a name
    (``build`` finds ``build.yaml``, ``build.yml`` or ``build.json``)."""
    shown = mission if len(mission) <= 80 else mission[:77] + "..."
    roots = [root.resolve(), *(Path(r).resolve() for r in get_settings().mission_roots)]
    try:
        candidate = Path(mission)
        if candidate.is_absolute() and not _inside(candidate.resolve(), roots):
            raise ChildNotFound(_outside(shown, roots))
        path = (base_dir / candidate).resolve()
        found = _existing(path)
    except (OSError, ValueError):  # too long for the file system, a NUL byte, ...
        raise ChildNotFound(f"child mission file not found: {shown!r}") from None
    if found is None:
        raise ChildNotFound(f"child mission file not found: {shown!r}")
    if not _inside(found, roots):
        raise ChildNotFound(_outside(shown, roots))
    return found


def _existing(path: Path) -> Path | None:
    if path.is_file():
        return path
    if not path.suffix:
        for suffix in SUFFIXES:
            if path.with_suffix(suffix).is_file():
                return path.with_suffix(suffix)
    return None


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path.is_relative_to(r) for r in roots)


def _outside(shown: str, roots: list[Path]) -> str:
    return (
        f"child mission {shown!r} is outside the mission's folder ({roots[0]}): a child mission"
        " is a file inside it, or under a folder of AUTOAGENT_MISSION_ROOTS"
    )
