"""Tool functions the python-agent tests call by "module:attr"."""

from __future__ import annotations

import asyncio
from typing import Any

from autoagent.agents import AgentContext, tool
from autoagent.errors import StepError


@tool
def add(a: int, b: int = 0) -> int:
    return a + b


@tool
async def async_mul(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a * b


@tool
def whoami(ctx: AgentContext, greeting: str = "hi") -> dict[str, Any]:
    return {"greeting": greeting, "step": ctx.step_path, "attempt": ctx.attempt}


@tool
def boom() -> None:
    raise ValueError("bad value")


@tool
async def async_boom() -> None:
    raise RuntimeError("async bad")


@tool
def step_fail() -> None:
    raise StepError("nope", kind="custom")


@tool
def not_json() -> set[int]:
    return {1, 2}


def plain() -> str:
    return "not a tool"
