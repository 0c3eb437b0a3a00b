"""Python tools of the research mission (examples/research.yaml, flows/research.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from autoagent import tool

NOTES = Path(__file__).resolve().parents[1] / "examples" / "research-notes"


@tool
def count_words(note: str) -> dict[str, int]:
    """Count the words of one of the research notes (its file name, e.g. durability.md)."""
    path = NOTES / Path(note).name
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in NOTES.glob("*.md")))
        raise ValueError(f"no note {note!r}; the notes are: {known}")
    return {"words": len(path.read_text().split())}


@tool
def publish(title: str, body: str) -> dict[str, str]:
    """Publish the report as a markdown file (a person approves each call first)."""
    folder = Path(os.environ.get("RESEARCH_OUT", "out/research"))
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "report"
    target = folder / f"{slug}.md"
    target.write_text(f"# {title}\n\n{body}\n")
    return {"published": str(target)}
