"""Python tools for the resume tests: importable as ``tests.integration.resume_tools``."""

from __future__ import annotations

from pathlib import Path

from autoagent.agents import tool
from autoagent.errors import StepError


@tool
def finish_when(marker: str) -> str:
    """Fail until ``marker`` exists: the first run fails here, the resume succeeds."""
    if not Path(marker).exists():
        raise StepError(f"{marker} is absent", kind="fail", retryable=False)
    return "finished"
