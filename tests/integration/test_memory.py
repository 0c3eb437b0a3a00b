"""A long-lived process that runs mission after mission keeps nothing of the finished ones: what
a run did is returned to its caller, not stashed in module-level registries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MISSIONS = 300


def test_memory_after_300_missions_is_within_10_percent_of_after_the_50th(prefect_server):
    ran = subprocess.run(
        [sys.executable, "-m", "tests.integration.memory_probe", str(MISSIONS)],
        cwd=ROOT,
        env={**os.environ, **prefect_server.env()},
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    measured = json.loads(ran.stdout.strip().splitlines()[-1])
    after_50, after_last = measured["50"], measured[str(MISSIONS)]
    growth = after_last / after_50 - 1
    figures = f"{after_50 / 2**20:.1f} MiB -> {after_last / 2**20:.1f} MiB ({growth:+.1%})"
    print(f"resident memory after mission 50 and {MISSIONS}: {figures}")
    assert growth <= 0.10, figures
