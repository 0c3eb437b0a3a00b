"""The tags a mission run carries, so ``autoagent list`` and the Prefect UI's filters find it:
``autoagent`` and ``mission:<name>`` (AutoAgent's own), ``param:<key>=<value>`` for each short
scalar param (a summary of what the run was asked), and the user's own (``--tag``)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from autoagent.errors import AutoAgentError
from autoagent.server.records import MISSION_TAG

MISSION_PREFIX = "mission:"
PARAM_PREFIX = "param:"
SPEC_PREFIX = "spec:"
"""``spec:<sha256, 12 digits>`` of the spec the run is pinned to (its ``spec`` parameter)."""
PARAM_VALUE_MAX = 40
"""Longer values are cut (marked ``…``): a tag is a summary, the run keeps the whole value."""
PARAMS_MAX = 8
"""At most this many params are summarized, in the order given."""
USER_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/=+@-]{0,63}")
RESERVED = (MISSION_PREFIX, PARAM_PREFIX, SPEC_PREFIX)


def mission_tags(name: str) -> list[str]:
    return [MISSION_TAG, f"{MISSION_PREFIX}{name}"]


def spec_tag(spec: Mapping[str, Any]) -> str:
    """The tag of a spec's version: the same spec, the same tag, on any machine."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return f"{SPEC_PREFIX}{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


def param_tags(params: Mapping[str, Any]) -> list[str]:
    """``param:<key>=<value>`` for the first PARAMS_MAX params whose value is a scalar."""
    found = []
    for key, value in params.items():
        if len(found) == PARAMS_MAX:
            break
        if isinstance(value, bool | int | float | str) and str(key).isidentifier():
            text = " ".join(str(value).split())
            if len(text) > PARAM_VALUE_MAX:
                text = text[: PARAM_VALUE_MAX - 1] + "…"
            found.append(f"{PARAM_PREFIX}{key}={text}")
    return found


def check_user_tags(tags: Iterable[str]) -> list[str]:
    """The user's tags, each checked: a letter or digit first, then up to 63 of letters, digits
    and ``_.:/=+@-``; AutoAgent's own names are refused (bad input: nothing is started)."""
    checked = []
    for tag in tags:
        if not USER_TAG.fullmatch(tag):
            raise AutoAgentError(
                f"tag {tag!r}: use a letter or digit first, then up to 63 letters, digits or"
                " _.:/=+@- (no spaces)"
            )
        if tag == MISSION_TAG or tag.startswith(RESERVED):
            raise AutoAgentError(
                f"tag {tag!r}: {MISSION_TAG!r}, 'mission:…', 'param:…' and 'spec:…' are"
                " reserved for AutoAgent"
            )
        if tag not in checked:
            checked.append(tag)
    return checked


def spec_of(tags: Iterable[str]) -> str | None:
    """The spec version a run's tags carry (a mission written as code has none)."""
    return next((t.removeprefix(SPEC_PREFIX) for t in tags if t.startswith(SPEC_PREFIX)), None)


def user_tags(tags: Iterable[str]) -> list[str]:
    """The tags a user gave, without AutoAgent's own."""
    return [t for t in tags if t != MISSION_TAG and not t.startswith(RESERVED)]


def params_of(tags: Iterable[str]) -> dict[str, str]:
    """The params' summary the tags carry."""
    pairs = (
        t.removeprefix(PARAM_PREFIX).partition("=") for t in tags if t.startswith(PARAM_PREFIX)
    )
    return {key: value for key, _, value in pairs}
