"""A step's `concurrency` holds a slot of a strict global limit while it works: a limit of 2
never has more than 2 holders, measured by the steps' own time windows."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from prefect import get_client

from tests.missions import run_mission

pytestmark = pytest.mark.integration


def _windows(directory: Path) -> list[tuple[float, float]]:
    out = []
    for path in sorted(directory.glob("*.win")):
        start, end = (float(x) for x in path.read_text().split())
        out.append((start, end))
    return out


def _most_at_once(windows: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in windows] + [(e, -1) for _, e in windows])
    now = most = 0
    for _, delta in edges:  # at equal times an end (-1) sorts before a start (+1)
        now += delta
        most = max(most, now)
    return most


def test_a_limit_of_two_never_has_more_than_two_holders(prefect_api, tmp_path):
    limit = f"llm-{uuid.uuid4().hex[:6]}"
    stamp = "python3 -c 'import time; print(time.time())'"
    window = f"{tmp_path}/{{{{ item }}}}.win"
    command = f"{stamp} > {window}; sleep 0.6; {stamp} >> {window}"
    run = run_mission(
        {
            "name": f"limited-{uuid.uuid4().hex[:6]}",
            "concurrency": {limit: 2},
            "steps": [
                {
                    "id": "call",
                    "agent": "shell",
                    "for_each": "{{ params.items }}",
                    "concurrency": limit,
                    "input": {"command": command},
                }
            ],
            "params": {"items": [f"i{n}" for n in range(6)]},
        }
    )
    assert run.state.is_completed(), run.state
    windows = _windows(tmp_path)
    assert len(windows) == 6
    assert _most_at_once(windows) == 2  # never more than the limit, and the limit was used
    with get_client(sync_client=True) as client:
        created = client.read_global_concurrency_limit_by_name(limit)
    assert created.limit == 2 and created.active


def test_most_at_once_counts_overlaps():
    assert _most_at_once([(0, 1), (1, 2), (2, 3)]) == 1
    assert _most_at_once([(0, 2), (1, 3), (1.5, 4)]) == 3
