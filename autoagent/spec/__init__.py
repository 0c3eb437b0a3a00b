"""Mission specs: models, reading and validation.

The models load with the package; reading and validation (``load``, ``loads``, ``validate_data``)
on first use, since they bring Jinja2's sandbox, which showing a run's status does not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autoagent.spec.models import (
    Approval,
    Compensate,
    Defaults,
    Event,
    MissionSpec,
    RetryBackoff,
    Step,
    Wait,
)

if TYPE_CHECKING:
    from autoagent.spec.validate import load, loads, validate_data

__all__ = [
    "Approval",
    "Compensate",
    "Defaults",
    "Event",
    "MissionSpec",
    "RetryBackoff",
    "Step",
    "Wait",
    "load",
    "loads",
    "validate_data",
]
_VALIDATION = ("load", "loads", "validate_data")


def __getattr__(name: str) -> Any:
    if name not in _VALIDATION:
        raise AttributeError(f"module 'autoagent.spec' has no attribute {name!r}")
    from autoagent.spec import validate

    value = getattr(validate, name)
    globals()[name] = value
    return value
