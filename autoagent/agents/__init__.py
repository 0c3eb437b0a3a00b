"""Agents: the units of work a mission's steps run.

``get_agent(name)`` finds one, ``run_agent(agent, ctx, input)`` validates its input and runs it,
``validate_input`` checks a spec's input before run time, and ``@tool`` lets the ``python`` agent
call a function. Third-party agents register through the entry point group ``autoagent.agents``.
"""

from autoagent.agents.base import Agent, AgentContext, AgentInput, AgentOutput, BaseAgent
from autoagent.agents.python import tool
from autoagent.agents.registry import (
    agent_names,
    error_kinds,
    get_agent,
    register,
    run_agent,
    validate_input,
)

__all__ = [
    "Agent",
    "AgentContext",
    "AgentInput",
    "AgentOutput",
    "BaseAgent",
    "agent_names",
    "error_kinds",
    "get_agent",
    "register",
    "run_agent",
    "tool",
    "validate_input",
]
