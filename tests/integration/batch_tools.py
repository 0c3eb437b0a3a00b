"""Python tools for the batched fan-out tests: importable as ``tests.integration.batch_tools``."""

from __future__ import annotations

import os
from pathlib import Path

from autoagent.agents import tool
from autoagent.errors import StepError


def _append(log: str, line: str) -> None:
    """One side effect: a line appended in one write (atomic between threads and processes)."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


@tool
def square(item: int, log: str, flaky: int = -1, broken: int = -1, marker: str = "") -> int:
    """Record that ``item`` ran, then square it. Item ``flaky`` fails its first attempt
    (retryable); item ``broken`` fails for good until ``marker`` exists."""
    _append(log, str(item))
    if item == flaky and sum(1 for line in Path(log).read_text().split() if line == str(item)) == 1:
        raise StepError(f"item {item} is flaky", kind="timeout", retryable=True)
    if item == broken and not Path(marker).exists():
        raise StepError(f"item {item} is broken", kind="fail", retryable=False)
    return item * item
