"""Assets: a step with ``asset: <key>`` materializes that asset; its lineage comes from the assets
of the steps it needs.

Lineage is static, read off the spec: a needed step with an asset is an upstream asset; a needed
step without one passes on its own upstream assets; a needed group passes on the assets inside
it. At run time the step is a Prefect ``MaterializingTask`` (``@materialize``) with those as
``asset_deps`` (autoagent.engine.step), so the server records a
``prefect.asset.materialization.succeeded`` event with the upstream assets as related resources.
The OSS server has no lineage view: ``autoagent status`` and the mission report show it, read back
from those events (autoagent.server.materializations).
"""

from __future__ import annotations

from autoagent.spec.models import MissionSpec, Step


def check_key(key: str) -> str | None:
    """Why ``key`` cannot be an asset key (None when it can): a URI such as file://out/x.csv.
    Prefect's own rule, imported here: only a spec with assets pays for importing Prefect."""
    from prefect.types.names import validate_valid_asset_key

    try:
        validate_valid_asset_key(key)
    except ValueError as exc:
        return f"{exc} (an asset key is a URI such as file://reports/summary.md or s3://bucket/x)"
    return None


def upstream(step: Step, siblings: dict[str, Step]) -> list[str]:
    """The assets ``step`` is built from, among the steps of its scope, sorted."""
    found: set[str] = set()
    seen: set[str] = set()

    def visit(need: str) -> None:
        if need in seen or need not in siblings:
            return
        seen.add(need)
        other = siblings[need]
        if other.asset is not None:
            found.add(other.asset)
            return
        inner = other.child.steps if other.child is not None else other.steps
        if inner:
            found.update(_all_assets(inner))
        for further in other.needs:
            visit(further)

    for need in step.needs:
        visit(need)
    return sorted(found)


def _all_assets(steps: list[Step]) -> set[str]:
    found: set[str] = set()
    for step in steps:
        if step.asset is not None:
            found.add(step.asset)
        inner = step.child.steps if step.child is not None else step.steps
        if inner:
            found |= _all_assets(inner)
    return found


def planned_lineage(spec: MissionSpec) -> dict[str, list[str]]:
    """Asset key → its upstream asset keys, for every asset step of the spec."""
    lineage: dict[str, list[str]] = {}

    def visit(steps: list[Step]) -> None:
        siblings = {s.id: s for s in steps}
        for step in steps:
            if step.asset is not None:
                lineage[step.asset] = upstream(step, siblings)
            inner = step.child.steps if step.child is not None else step.steps
            if inner:
                visit(inner)

    visit(spec.steps)
    return lineage
