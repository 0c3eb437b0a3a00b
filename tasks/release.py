"""The steps of the example release mission (flows/release.py): durable ``@step`` functions."""

from __future__ import annotations

import hashlib

from autoagent import step


@step(retries=2, retry_backoff={"base_seconds": 1, "jitter": 0.2})
def build(component: str, version: str) -> dict[str, str]:
    """Stands for a real build: a reproducible digest of what would be built."""
    digest = hashlib.sha256(f"{component}@{version}".encode()).hexdigest()[:12]
    return {"component": component, "artifact": f"{component}-{version}-{digest}.tar.gz"}


def give_back(slot: dict[str, str]) -> None:
    print(f"released the deployment slot {slot['slot']} again")


@step(compensate=give_back)
def reserve_slot(version: str) -> dict[str, str]:
    return {"slot": f"prod-{version}"}
