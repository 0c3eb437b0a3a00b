"""One module per measured system, each with the same three entry points.

A system module exposes ``make() -> System``. Each is loaded only inside its own worker process
(``bench/worker.py``), so the systems never share an interpreter: their background threads,
thread pools and imports cannot slow each other down or crash each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

CHAIN_STEPS = 40
FANOUT_STEPS = 200
NAP_SECONDS = 0.05
RESUME_STEPS = 1000


@dataclass
class Scale:
    """Scenario sizes; ``--quick`` shrinks them for iterating on the benchmark itself."""

    chain: int = CHAIN_STEPS
    fanout: int = FANOUT_STEPS
    nap: float = NAP_SECONDS
    resume: int = RESUME_STEPS
    wide: int = 10_000
    wide_nap: float = 0.01
    missions: int = 100
    mission_steps: int = 20


class System(Protocol):
    def setup(self) -> None:
        """Connect, register, warm imports; raise with a readable reason if it cannot run."""

    def chain(self, n: int) -> float:
        """Run the chain of ``n`` fib links; return the seconds a user waited."""

    def fanout(self, n: int, nap: float) -> float:
        """Run ``n`` parallel naps then a join; return the seconds a user waited."""

    def resume(self, n: int, marker: str) -> tuple[float, float]:
        """Run ``n`` steps whose last fails, then resume it; return (first, resume) seconds."""

    def close(self) -> None:
        """Release what setup took."""


SYSTEMS = {
    "autoagent": "systems.autoagent_system",
    "prefect": "systems.prefect_plain",
    "temporal": "systems.temporal_system",
    "dbos": "systems.dbos_system",
}
"""System name -> module; the order is the table's and the chart's."""

LABELS = {
    "autoagent": "AutoAgent",
    "prefect": "plain Prefect",
    "temporal": "Temporal",
    "dbos": "DBOS",
}

RESUMABLE = ("autoagent", "prefect")
"""Systems measured on the resume scenario (Temporal and DBOS resume by replay, out of scope)."""


class WrongResult(RuntimeError):
    """A run finished but did not compute what it should: its time must not count."""


def expect(what: str, got: object, wanted: object) -> None:
    if got != wanted:
        raise WrongResult(f"{what}: expected {wanted!r}, got {got!r}")
