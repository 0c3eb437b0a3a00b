"""Prefect's settings as AutoAgent needs them, read and set without importing Prefect.

Prefect builds its settings once, when it is first imported, and importing it costs ~2.5 s on a
small machine: a variable set later is ignored, and a command that only reads a run's status
cannot afford the import. So:

- ``apply_defaults`` puts AutoAgent's defaults for Prefect in the environment before Prefect is
  imported (a variable the user set wins); if Prefect is loaded already (a notebook imported it
  first), it has Prefect rebuild its global settings (``refresh_global_settings_context``), so
  the defaults are in force either way;
- ``value`` reads one of the few settings a command needs before (or without) Prefect: the API's
  URL and credentials. It reads what Prefect reads: the environment, then the active profile.
  When a ``.env``, ``prefect.toml`` or ``pyproject.toml`` with ``[tool.prefect]`` in the working
  directory could also set it, or Prefect is loaded already, Prefect itself is asked.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULTS: Mapping[str, str] = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # a flow run outside AutoAgent's entry points may still start Prefect's temporary server: on a
    # busy machine its database takes longer than Prefect's 20 s to build
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}
QUIET: Mapping[str, str] = {"PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL"}
"""The CLI's console shows each step itself: Prefect's console logs only with --verbose (its
logs still reach the server and the UI)."""

_ATTRIBUTES: Mapping[str, tuple[str, str]] = {
    "PREFECT_API_URL": ("api", "url"),
    "PREFECT_API_AUTH_STRING": ("api", "auth_string"),
    "PREFECT_API_KEY": ("api", "key"),
    "PREFECT_API_TLS_INSECURE_SKIP_VERIFY": ("api", "tls_insecure_skip_verify"),
    "PREFECT_API_SSL_CERT_FILE": ("api", "ssl_cert_file"),
    "PREFECT_CLIENT_CUSTOM_HEADERS": ("client", "custom_headers"),
}
"""The settings ``value`` reads, and where Prefect keeps each."""


def defaults(quiet: bool = False) -> dict[str, str]:
    """AutoAgent's defaults for Prefect: ``DEFAULTS``, and with ``quiet`` its console logs off.

    No flow heartbeat period: a mission run by AutoAgent sends its own heartbeats
    (autoagent.server.liveness), so the engine's stay off, and switching them off in a settings copy
    costs ~0.2 s a run."""
    return {**DEFAULTS, **QUIET} if quiet else dict(DEFAULTS)


def apply_defaults(values: Mapping[str, str], updates: Mapping[str, str] | None = None) -> None:
    """Set ``values`` where the environment has none and ``updates`` over it, so that Prefect
    reads them; rebuild Prefect's global settings if it is loaded and anything changed."""
    changed = False
    for name, setting in values.items():
        if name not in os.environ:
            os.environ[name] = setting
            changed = True
    for name, setting in (updates or {}).items():
        if os.environ.get(name) != setting:
            os.environ[name] = setting
            changed = True
    if changed:
        refresh_prefect_settings()


def refresh_prefect_settings() -> None:
    """Rebuild Prefect's global settings from the environment, if Prefect is loaded."""
    context = sys.modules.get("prefect.context")
    if context is not None:
        context.refresh_global_settings_context()


def prefect_loaded() -> bool:
    return "prefect.settings" in sys.modules


def value(name: str) -> str | None:
    """One of ``_ATTRIBUTES``'s settings as Prefect sees it ("" counts as unset)."""
    if name in os.environ:
        return os.environ[name] or None
    if prefect_loaded() or _other_sources():
        return _from_prefect(name)
    found = active_profile().get(name)
    return str(found) if found not in (None, "") else None


def active_profile() -> dict[str, Any]:
    """The settings of Prefect's active profile (PREFECT_PROFILE, else the file's ``active``)."""
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or prefect_home() / "profiles.toml")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    name = os.environ.get("PREFECT_PROFILE") or data.get("active")
    profile = data.get("profiles", {}).get(name, {})
    return profile if isinstance(profile, dict) else {}


def prefect_home() -> Path:
    """The Prefect home: its profiles, and the local server's SQLite database and record."""
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def _other_sources() -> bool:
    """A settings file in the working directory that only Prefect knows how to read."""
    if Path(".env").is_file() or Path("prefect.toml").is_file():
        return True
    try:
        return "[tool.prefect" in Path("pyproject.toml").read_text(errors="replace")
    except OSError:
        return False


def _from_prefect(name: str) -> str | None:
    """Ask Prefect (imports it: only where a source beyond the environment and the profile
    could hold the setting, or Prefect is loaded anyway)."""
    from prefect.settings import get_current_settings

    group, attribute = _ATTRIBUTES[name]
    found = getattr(getattr(get_current_settings(), group), attribute)
    if hasattr(found, "get_secret_value"):
        found = found.get_secret_value()
    if isinstance(found, bool):
        return "true" if found else None
    if isinstance(found, dict):
        return json.dumps(found) if found else None
    return str(found) if found not in (None, "") else None
