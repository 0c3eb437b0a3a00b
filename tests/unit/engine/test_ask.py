"""Polling for an answer: fast at first, slower the longer the wait, never past the deadline."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from autoagent.engine import ask


def test_polls_start_fast_and_slow_down_to_a_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(ask.time, "sleep", slept.append)
    polls = ask._Polls(None)
    for _ in range(20):
        polls.sleep()
    assert slept[0] == ask.POLL_SECONDS
    assert all(b >= a for a, b in itertools.pairwise(slept))
    assert max(slept) == ask.POLL_MAX_SECONDS
    assert sum(slept[:5]) < 1.5  # an answer given at once is seen within a second or so


def test_polls_never_sleep_past_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(ask.time, "sleep", slept.append)
    polls = ask._Polls((datetime.now(UTC) + timedelta(seconds=0.3)).isoformat())
    polls.delay = ask.POLL_MAX_SECONDS
    polls.sleep()
    assert slept[0] <= 0.32
    late = ask._Polls((datetime.now(UTC) - timedelta(seconds=5)).isoformat())
    late.sleep()
    assert slept[1] == pytest.approx(0.01)


def test_approvals_of_one_run_share_its_form_lock_while_they_wait() -> None:
    """Parallel approvals take turns on the run's one form; a run that stopped waiting leaves
    nothing behind in a process that runs missions for months."""
    import gc

    first = ask._form_lock("run-a")
    assert ask._form_lock("run-a") is first  # another approval of the run, waiting meanwhile
    assert ask._form_lock("run-b") is not first
    del first
    gc.collect()
    assert "run-a" not in ask._form_locks and "run-b" not in ask._form_locks
