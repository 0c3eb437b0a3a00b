"""Which Prefect API AutoAgent talks to, and how to reach it, decided before Prefect is imported.

A configured server (PREFECT_API_URL from the environment, a Prefect profile or a Prefect config
file) is used as it is. Without one, the local server of this home (autoagent.server.local) is
found, or started the first time, and PREFECT_API_URL is set in this process's environment, where
Prefect reads it (its global settings are rebuilt when it is loaded already). Every command,
notebook and test on the same home so shares one server; Prefect's per-process temporary server
is never used.
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from autoagent import prefect_settings
from autoagent.errors import ServerError
from autoagent.server import local


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def ensure_api(say: Callable[[str], None] = _stderr, status: local.Status | None = None) -> str:
    """The API's URL; with no server configured, the local one's (started if need be).

    When Prefect is not loaded yet, AutoAgent's defaults for it are set here too (the CLI sets
    its own first); when it is, they are set only with the local server's URL, in the one
    rebuild of Prefect's settings that needs.
    """
    configured = prefect_settings.value("PREFECT_API_URL")
    if configured:
        if not prefect_settings.prefect_loaded():
            prefect_settings.apply_defaults(prefect_settings.defaults())
        return configured
    server = local.ensure(say, status)
    prefect_settings.apply_defaults(
        prefect_settings.defaults(), updates={"PREFECT_API_URL": server.url}
    )
    return server.url


def healthy(api: Access, timeout: float = 3.0) -> bool:
    """Whether the API answers its health check (with its credentials and TLS options)."""
    request = urllib.request.Request(f"{api.url}/health", headers=api.headers)
    context = None
    if api.url.startswith("https:"):
        context = ssl.create_default_context(
            cafile=api.verify if isinstance(api.verify, str) else None
        )
        if api.verify is False:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class Access:
    """What an HTTP client needs to talk to the API as Prefect's client would."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    verify: bool | str = True


def access() -> Access:
    """The configured API (``ensure_api`` first) with its credentials and TLS options."""
    url = prefect_settings.value("PREFECT_API_URL")
    if not url:
        raise ServerError("no Prefect API: set PREFECT_API_URL or let AutoAgent start one")
    headers: dict[str, str] = {}
    custom = prefect_settings.value("PREFECT_CLIENT_CUSTOM_HEADERS")
    if custom:
        try:
            headers.update({str(k): str(v) for k, v in json.loads(custom).items()})
        except (ValueError, AttributeError):
            raise ServerError("PREFECT_CLIENT_CUSTOM_HEADERS is not a JSON object") from None
    auth = prefect_settings.value("PREFECT_API_AUTH_STRING")
    key = prefect_settings.value("PREFECT_API_KEY")
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    elif key:
        headers["Authorization"] = f"Bearer {key}"
    verify: bool | str = True
    if (prefect_settings.value("PREFECT_API_TLS_INSECURE_SKIP_VERIFY") or "").lower() in (
        "1",
        "true",
        "yes",
    ):
        verify = False
    else:
        verify = prefect_settings.value("PREFECT_API_SSL_CERT_FILE") or True
    return Access(url.rstrip("/"), headers, verify)
