"""Prefect's settings as AutoAgent sets and reads them: the defaults the CLI asks for are the ones
Prefect uses, and the API's URL is read from the same places Prefect reads it.

Each case runs in a fresh interpreter: Prefect builds its settings when it is first imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_READ = """
import json
from prefect.settings import get_current_settings
s = get_current_settings()
print(json.dumps({
    "startup_timeout": s.server.ephemeral.startup_timeout_seconds,
    "analytics": s.server.analytics_enabled,
    "api_url": s.api.url,
}))
"""


def _python(code: str, env: dict[str, str], cwd: Path | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AUTOAGENT_"))}
    env.update(PREFECT_HOME=str(tmp_path / "home"), AUTOAGENT_HOME=str(tmp_path / "aa"))
    env.pop("DO_NOT_TRACK", None)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return {**env, **extra}


def test_the_cli_defaults_are_the_ones_prefect_uses(tmp_path):
    env = _env(tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api")  # no server is started
    code = "from autoagent.cli.output import connect\nconnect()\n" + _READ
    code += textwrap.dedent(
        """
        import logging
        from prefect.logging.handlers import PrefectConsoleHandler
        from prefect.logging.configuration import setup_logging
        setup_logging()
        levels = [h.level for h in logging.getLogger().handlers
                  if isinstance(h, PrefectConsoleHandler)]
        print(json.dumps({"console_levels": levels}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert first["startup_timeout"] == 120  # Prefect's own default is 20
    assert first["analytics"] is False
    assert second["console_levels"] and set(second["console_levels"]) == {50}  # CRITICAL


def test_defaults_apply_when_prefect_was_imported_first(tmp_path):
    code = """
    import prefect.settings
    from autoagent import prefect_settings
    before = prefect.settings.get_current_settings().server.ephemeral.startup_timeout_seconds
    prefect_settings.apply_defaults(prefect_settings.defaults())
    """
    found = _python(textwrap.dedent(code) + _READ, _env(tmp_path))
    assert found["startup_timeout"] == 120


def test_a_value_the_user_set_wins(tmp_path):
    env = _env(tmp_path, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="33")
    code = "from autoagent import prefect_settings\n"
    code += "prefect_settings.apply_defaults(prefect_settings.defaults())\n"
    assert _python(code + _READ, env)["startup_timeout"] == 33


_COMPARE = """
import json, sys
from autoagent import prefect_settings
ours = prefect_settings.value("PREFECT_API_URL")
loaded_before = "prefect.settings" in sys.modules
from prefect.settings import get_current_settings
print(json.dumps({"ours": ours, "prefect": get_current_settings().api.url,
                  "loaded_before": loaded_before}))
"""


@pytest.mark.parametrize("source", ["environment", "profile", "prefect.toml", ".env", "none"])
def test_the_api_url_is_read_where_prefect_reads_it(tmp_path, source):
    url = "http://10.0.0.7:4200/api"
    env = _env(tmp_path)
    cwd = tmp_path / "project"
    cwd.mkdir()
    if source == "environment":
        env["PREFECT_API_URL"] = url
    elif source == "profile":
        profiles = tmp_path / "profiles.toml"
        profiles.write_text(
            'active = "work"\n[profiles.work]\nPREFECT_API_URL = "' + url + '"\n'
            '[profiles.other]\nPREFECT_API_URL = "http://elsewhere/api"\n'
        )
        env["PREFECT_PROFILES_PATH"] = str(profiles)
    elif source == "prefect.toml":
        (cwd / "prefect.toml").write_text(f'[api]\nurl = "{url}"\n')
    elif source == ".env":
        (cwd / ".env").write_text(f"PREFECT_API_URL={url}\n")
    found = _python(_COMPARE, env, cwd=cwd)
    assert found["ours"] == found["prefect"] == (None if source == "none" else url), found
    # the environment and a profile are read without importing Prefect
    if source in ("environment", "profile", "none"):
        assert found["loaded_before"] is False
