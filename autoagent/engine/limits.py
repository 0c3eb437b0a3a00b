"""Global concurrency limits that steps name: made to exist, with their declared size, before a
mission runs (a step holds one slot of a strict limit while its agent works)."""

from __future__ import annotations

from autoagent.server.client import client
from autoagent.settings import get_settings
from autoagent.spec import MissionSpec


def declared(spec: MissionSpec) -> dict[str, int]:
    """Every limit the mission and its child missions may use: settings first, specs override."""
    limits = dict(get_settings().concurrency_limits)
    limits.update(spec.concurrency)
    for _, step in spec.walk():
        if step.child is not None:
            limits.update(step.child.concurrency)
    return limits


def ensure(spec: MissionSpec) -> None:
    """Create or resize the limits the mission's steps name (idempotent)."""
    used = {step.concurrency for _, step in spec.walk() if step.concurrency is not None}
    if not used:
        return
    limits = declared(spec)
    with client() as prefect:
        for name in sorted(used):
            prefect.upsert_global_concurrency_limit_by_name(name, limits[name])
