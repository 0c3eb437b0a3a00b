"""An example mission written as code: a release.

Two components build in parallel, a deployment slot is reserved (and given back if the release
fails later), a person approves, the release cools down on a durable timer, then a sub-mission
writes the notes. Deployed from prefect.yaml as ``release/release``; locally::

    python -m flows.release --auto-approve
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from autoagent import approval, mission, step, sub_mission, wait
from tasks.release import build, reserve_slot


@mission(name="release-notes")
def release_notes(version: str, artifacts: list[str]) -> str:
    listed = "\n".join(f"- {a}" for a in artifacts)
    return step(
        "notes",
        agent="echo",
        input={"value": f"# Release {version}\n\n{listed}\n"},
    )


@mission(name="release")
def release(version: str = "1.0.0", auto_approve: bool = False) -> dict[str, Any]:
    """Build, reserve, approve, cool down, write the notes."""
    futures = [build.named(f"build-{c}").submit(c, version) for c in ("api", "ui")]
    artifacts = [f.result()["artifact"] for f in futures]
    slot = reserve_slot(version)
    answer = approval(
        f"Ship {version}?",
        step="approve",
        description="Artifacts:\n\n" + "\n".join(f"- `{a}`" for a in artifacts),
        auto_approve=auto_approve,
    )
    wait(2, step="cool-down")
    notes = sub_mission(release_notes, {"version": version, "artifacts": artifacts})
    return {"slot": slot["slot"], "approved": answer["approved"], "notes": notes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--auto-approve", action="store_true")
    args = parser.parse_args(argv)
    state = release(version=args.version, auto_approve=args.auto_approve, return_state=True)
    print(state.name)
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(main())
