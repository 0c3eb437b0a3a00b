"""Mission specs: models, reading and validation."""

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
