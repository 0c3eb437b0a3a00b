"""AutoAgent's settings: one class, every field described, read from ``AUTOAGENT_*`` variables.

A plain pydantic model read from the environment by ``from_environment`` (a field's variable is
``AUTOAGENT_`` + its name in capitals; a mapping is given as JSON): pydantic-settings would do
the same, but importing it costs ~0.25 s, which every command would pay.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autoagent.errors import AutoAgentError

PREFIX = "AUTOAGENT_"


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    home: Path = Field(
        Path.home() / ".autoagent",
        description="Where AutoAgent keeps local state: persisted step results by default.",
    )
    results_block: str = Field(
        "autoagent-results",
        description="Name of the saved LocalFileSystem block that holds persisted step results.",
    )
    results_path: Path | None = Field(
        None,
        description="Base path of the results block when AutoAgent creates it (default"
        " <home>/results). Every process of a mission must see the same path.",
    )
    max_parallel_steps: int = Field(
        256, ge=1, description="How many steps of one group may run at the same time."
    )
    heartbeat_seconds: int = Field(
        30,
        ge=1,
        description="Flow heartbeat period; a run with no heartbeat for 3 periods and no live"
        " process counts as dead for `autoagent resume`.",
    )
    record_wait_seconds: float = Field(
        15.0,
        ge=0,
        description="How long `autoagent run` waits for the server to hold every step's final"
        " state before it returns (the local server records task states asynchronously).",
    )
    concurrency_limits: dict[str, int] = Field(
        default_factory=dict,
        description="Global concurrency limits (name → slots, JSON) every mission may name in a"
        " step's `concurrency`, besides those its spec declares.",
    )
    suspend_min_seconds: float = Field(
        15.0,
        ge=0,
        description="A deployed mission suspends (no process alive) for a timer with more than"
        " this left; less is slept in-process. Keep it above the runner's or worker's prefetch,"
        " which starts a scheduled run that much early.",
    )

    changed_code: Literal["refuse", "proceed"] = Field(
        "refuse",
        description="When a mission written as code is run again (a crash recovery, a resume"
        " from a deployment) and its file or package changed since the run began: refuse (the"
        " attempt fails, naming the change) or proceed (the run's log says so).",
    )

    mission_roots: list[Path] = Field(
        default_factory=list,
        description="Folders (separated by the OS path separator, ':' on Linux) a `mission:`"
        " step may read child missions from, besides the folder of the spec that runs.",
    )
    max_spec_bytes: int = Field(
        10_000_000, ge=1, description="Largest spec a command or API reads, in bytes."
    )
    max_expanded_bytes: int = Field(
        10_000_000,
        ge=1,
        description="Largest size of a spec once its YAML aliases are expanded (about the JSON"
        " sent to the server), in bytes: an alias bomb stops here.",
    )
    max_spec_values: int = Field(
        1_000_000, ge=1, description="Most values (scalars, lists, mappings) in a spec."
    )
    max_depth: int = Field(
        100, ge=4, le=200, description="Deepest nesting of lists and mappings in a spec."
    )
    max_steps: int = Field(
        20_000, ge=1, description="Most steps in one mission spec (groups count, items do not)."
    )
    max_for_each: int = Field(
        10_000,
        ge=1,
        description="Most items one for_each fans out to: checked at validation when the list is"
        " written in the spec, at run time before any item starts otherwise.",
    )
    for_each_batch: int = Field(
        100,
        ge=1,
        le=10_000,
        description="A for_each over more items than this runs them in batch task runs of at"
        " most this many items each (a step's `for_each_batch:` overrides it; 1 keeps one task"
        " run per item): each item's result is still persisted under its own key.",
    )
    max_expression_output: int = Field(
        1_000_000,
        ge=1,
        description="Most characters (or items) one expression may build while it renders.",
    )

    server_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port of the local Prefect server (the embedded default, used when no"
        " PREFECT_API_URL is configured). Unset: 4200, or a free port when 4200 is taken.",
    )
    server_start_timeout: float = Field(
        180.0,
        gt=0,
        description="How long a command waits for the local Prefect server to become healthy"
        " (its first start builds the SQLite database: about 10-30 s on a small machine).",
    )

    @property
    def results_dir(self) -> Path:
        return self.results_path or self.home / "results"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings the ``AUTOAGENT_*`` variables give; AutoAgentError names a bad one."""
        values: dict[str, object] = {}
        for name, field in cls.model_fields.items():
            variable = PREFIX + name.upper()
            if variable not in environ:
                continue
            raw = environ[variable]
            if get_origin(field.annotation) is dict or field.annotation is dict:
                try:
                    values[name] = json.loads(raw)
                except ValueError:
                    raise AutoAgentError(f"{variable} is not JSON: {raw!r}") from None
            elif get_origin(field.annotation) is list:
                values[name] = [part for part in raw.split(os.pathsep) if part]
            else:
                values[name] = raw
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            variable = PREFIX + str(first["loc"][0]).upper() if first["loc"] else PREFIX + "*"
            raise AutoAgentError(f"{variable}: {first['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environment()
