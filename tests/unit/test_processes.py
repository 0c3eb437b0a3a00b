"""Leftover process groups of a dead run are ended by a resume, and only those."""

from __future__ import annotations

import subprocess
import time

from autoagent import processes
from autoagent.runs import _process_alive


def test_reap_ends_a_remembered_group_and_forget_spares_it(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOAGENT_HOME", str(tmp_path))
    from autoagent.settings import get_settings

    get_settings.cache_clear()
    try:
        left = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], start_new_session=True)
        done = subprocess.Popen(["sh", "-c", "sleep 60"], start_new_session=True)
        processes.remember("run-1", "left", left.pid)
        processes.forget(processes.remember("run-1", "done", done.pid))

        assert processes.reap("run-1") == ["left"]
        left.wait(timeout=5)
        time.sleep(0.1)
        assert not _process_alive(left.pid)
        assert _process_alive(done.pid)
        assert processes.reap("run-1") == []
    finally:
        done.kill()
        done.wait()
        get_settings.cache_clear()


def test_reap_never_kills_a_reused_group_id(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOAGENT_HOME", str(tmp_path))
    from autoagent.settings import get_settings

    get_settings.cache_clear()
    try:
        other = subprocess.Popen(["sleep", "60"], start_new_session=True)
        token = processes.remember("run-2", "step", other.pid)
        assert token is not None
        token.write_text("1\nstep\n")  # a different start time: the id was reused
        assert processes.reap("run-2") == []
        assert _process_alive(other.pid)
    finally:
        other.kill()
        other.wait()
        get_settings.cache_clear()
