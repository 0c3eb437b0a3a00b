"""The research mission of examples/research.yaml, written in Python with ``autoagent.Agent``.

A lead splits the question and delegates each part to a researcher (the calls run in parallel);
researchers use a shell, HTTP and a Python tool; a writer publishes the report (each publish call
waits for a person) and answers with a structured report. The model is the provider block
``research-model``: the recorded model server offline (examples/model_replay.py), or a real
endpoint. Deployed from prefect.yaml as ``research/research``; locally::

    python -m flows.research --auto-approve --notes-url http://127.0.0.1:8765/notes
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import BaseModel

from autoagent import Agent, Tool, mission
from tasks.research import count_words, publish

QUESTION = "How does AutoAgent keep a long mission's work safe across crashes and waits?"
PROVIDER = "research-model"


class Finding(BaseModel):
    question: str
    answer: str


class Findings(BaseModel):
    findings: list[Finding]


class Report(BaseModel):
    title: str
    summary: str
    published: str | None = None


researcher = Agent(
    "researcher",
    provider=PROVIDER,
    description="a researcher who reads the notes in examples/research-notes",
    system=(
        "You are a researcher. The notes are markdown files in examples/research-notes, also"
        " served over HTTP. Use the tools to find the facts, then answer in two sentences."
    ),
    tools=["shell", "http", count_words],
    max_turns=6,
)
lead = Agent(
    "lead",
    provider=PROVIDER,
    system=(
        "You are the lead researcher. Split the question into at most three parts and ask a"
        ' researcher about each, all at once. Then answer with JSON: {"findings": [{"question",'
        ' "answer"}]}.'
    ),
    tools=[researcher],
    output_schema=Findings,
    max_turns=4,
    max_tokens=200_000,
)
writer = Agent(
    "writer",
    provider=PROVIDER,
    system=(
        "You are the writer. Write a short report from the findings, publish it with the publish"
        ' tool, then answer with JSON: {"title", "summary", "published"}.'
    ),
    tools=[Tool(publish, approval=True)],
    output_schema=Report,
)


@mission(name="research")
def research(
    question: str = QUESTION,
    notes_url: str = "http://127.0.0.1:8765/notes",
    auto_approve: bool = False,
) -> dict[str, Any]:
    """Research the question with agents; the structured report and what it cost."""
    found = lead.run(f"{question} (the notes are also at {notes_url})", step="research")
    findings = json.dumps(found["answer"]["findings"])
    written = writer.run(f"Findings: {findings}", step="write", auto_approve=auto_approve)
    usage = [found["usage"], written["usage"]]
    return {
        "report": written["answer"],
        "cost": sum(u["cost"] for u in usage),
        "tokens": sum(u["input_tokens"] + u["output_tokens"] for u in usage),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--notes-url", default="http://127.0.0.1:8765/notes")
    parser.add_argument("--auto-approve", action="store_true")
    args = parser.parse_args(argv)
    state = research(
        question=args.question,
        notes_url=args.notes_url,
        auto_approve=args.auto_approve,
        return_state=True,
    )
    print(state.name)
    if state.is_completed():
        print(json.dumps(state.result(), indent=2))
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(main())
