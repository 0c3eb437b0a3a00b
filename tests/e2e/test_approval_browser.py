"""An approval answered in a real browser: Chromium (driven by Playwright) opens the paused run in
the Prefect UI, clicks Resume, fills the form generated from the step's fields and submits it, in
the default (V2) UI and in the V1 UI that the run's log link opens. The form's decision has no
default: a Submit without one is refused and the run keeps waiting."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from autoagent.api import answers
from tests.background import Background

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _unavailable(reason: str) -> None:
    """Skip where the machine has no browser, but never in CI, which installs one."""
    if os.environ.get("AUTOAGENT_REQUIRE_BROWSER"):
        pytest.fail(f"browser tests required here: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright import sync_api
    except ImportError:
        _unavailable("playwright is not installed")
    if not shutil.which("chromium"):
        _unavailable("no Chromium on this machine (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def _mission(**approval: object) -> dict:
    return {
        "name": f"browser-{uuid.uuid4().hex[:8]}",
        "steps": [
            {"id": "build", "agent": "echo", "input": {"value": "v1.2.3"}},
            {
                "id": "review",
                "needs": ["build"],
                "approval": {
                    "title": "Ship {{ steps.build.output }}?",
                    "description": "The build made **{{ steps.build.output }}**.",
                    "fields": {
                        "ticket": {"type": "int", "description": "Change ticket"},
                        "region": {"type": "enum", "choices": ["eu", "us"], "default": "eu"},
                    },
                    **approval,
                },
            },
            {
                "id": "ship",
                "agent": "echo",
                "needs": ["review"],
                "input": {"value": "{{ steps.review.output }}"},
            },
        ],
    }


def _open_form_v1(page, base: str, run_id: str) -> None:
    page.goto(f"{base}/runs/flow-run/{run_id}")
    page.get_by_role("button", name="Resume").click()


def _open_form_v2(page, base: str, run_id: str) -> None:
    page.goto(f"{base}/v2/runs/flow-run/{run_id}")
    page.get_by_text("Paused").first.wait_for()
    buttons = page.locator("button")
    header = [
        (i, box)
        for i in range(buttons.count())
        if (box := buttons.nth(i).bounding_box()) is not None and box["y"] < 80
    ]
    index, _ = max(header, key=lambda found: found[1]["x"])  # the run's ⋮ menu, top right
    buttons.nth(index).click()
    page.get_by_role("menuitem", name="Resume").click()


def _decide(page, dialog, ui: str, choice: str) -> None:
    """Choose Approve or Reject in the form's decision, each UI's way of opening its list."""
    if ui == "v2":
        dialog.get_by_label("Select Decision").click()
    else:
        dialog.locator("fieldset").first.locator("button").first.click()
        page.keyboard.press("ArrowDown")
    page.get_by_role("option", name=choice).click()


UIS = pytest.mark.parametrize(
    ("ui", "open_form", "submit"),
    [("v2", _open_form_v2, "Resume"), ("v1", _open_form_v1, "Submit")],
)
"""The default (V2) UI, and the V1 UI that the run's log link opens: each opens the form its way."""


@contextlib.contextmanager
def _form(prefect_api: str, browser, open_form, run: Background) -> Iterator:
    """The page and the dialog of the run's approval form, once the step waits for it."""
    run.until_waiting("review")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_form(page, prefect_api.removesuffix("/api"), run.id)
        yield page, page.get_by_role("dialog")
    finally:
        page.close()


@UIS
def test_approval_answered_in_the_prefect_ui(prefect_api, browser, ui, open_form, submit):
    run = Background(_mission())
    with _form(prefect_api, browser, open_form, run) as (page, dialog):
        dialog.get_by_text("Ship v1.2.3?").wait_for()  # the title, rendered from the build
        dialog.get_by_text("The build made v1.2.3.").wait_for()  # the description, rendered
        assert "**" not in dialog.inner_text()  # as markdown
        _decide(page, dialog, ui, "Approve")
        dialog.locator("textarea").first.fill(f"looks good from {ui}")
        dialog.locator("input").last.fill("42")
        dialog.get_by_role("button", name=submit).click()
        done = run.finish(timeout=60)
    assert done.state.is_completed(), done.state
    answer = done.outputs()["ship"]
    assert answer["approved"] is True
    assert answer["comment"] == f"looks good from {ui}"
    assert answer["ticket"] == 42 and answer["region"] == "eu"


@UIS
def test_a_rejection_in_the_prefect_ui_needs_no_field(prefect_api, browser, ui, open_form, submit):
    run = Background(_mission(on_reject="continue"))
    with _form(prefect_api, browser, open_form, run) as (page, dialog):
        dialog.get_by_text("Change ticket (required to approve)").wait_for()  # the form says so
        _decide(page, dialog, ui, "Reject")
        dialog.locator("textarea").first.fill(f"not yet, from {ui}")
        dialog.get_by_role("button", name=submit).click()  # the ticket left empty
        done = run.finish(timeout=60)
    assert done.state.is_completed(), done.state
    answer = done.outputs()["ship"]
    assert answer["approved"] is False and answer["ticket"] is None
    assert answer["comment"] == f"not yet, from {ui}"


@UIS
def test_a_submit_without_a_decision_is_refused(prefect_api, browser, ui, open_form, submit):
    """Nobody rejects by accident: the form refuses an answer that chose neither, the run keeps
    waiting on the same form, and a decision made then is taken."""
    run = Background(_mission())
    with _form(prefect_api, browser, open_form, run) as (page, dialog):
        dialog.locator("input").last.fill("7")
        dialog.get_by_role("button", name=submit).click()
        page.get_by_text("'decision' is a required property").first.wait_for()
        page.wait_for_timeout(1000)
        assert run.until_waiting("review")  # still paused on its form
        _decide(page, dialog, ui, "Approve")
        dialog.get_by_role("button", name=submit).click()
        done = run.finish(timeout=60)
    assert done.state.is_completed(), done.state
    assert done.outputs()["ship"]["approved"] is True and done.outputs()["ship"]["ticket"] == 7


def test_a_paused_runs_page_says_what_it_waits_for_and_how_to_answer(prefect_api, browser):
    """Without opening Details: the run's logs (the page's first tab) say what the step waits
    for and the command that answers it, and its report's table says the step waits."""
    run = Background(_mission())
    run.until_waiting("review")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{prefect_api.removesuffix('/api')}/runs/flow-run/{run.id}")
        page.get_by_text("review waits for approval: 'Ship v1.2.3?'").first.wait_for()
        page.get_by_text(f"autoagent approve {run.id} --step review").first.wait_for()
        page.get_by_text("Artifacts", exact=True).first.click()
        page.get_by_text("mission-browser-").first.click()  # the report
        page.get_by_text("Running, waiting for review").first.wait_for()  # the report's head
        page.get_by_role("cell", name="waiting", exact=True).first.wait_for()
        page.get_by_text("waits for approval").first.wait_for()
    finally:
        page.close()
    answers.approve(run.id, "review", fields={"ticket": 1})
    assert run.finish(timeout=60).state.is_completed()


def test_a_tool_call_is_approved_with_edited_arguments_in_the_prefect_ui(
    prefect_api, browser, tmp_path
):
    """An LLM agent's tool call waits with a form that shows the call; a person changes the
    arguments in the UI and approves: the tool runs with what the person wrote."""
    import json

    from autoagent.agents.provider import LLMProvider
    from tests.model_server import ModelServer, call, say

    model = ModelServer()
    try:
        provider = f"browser-{uuid.uuid4().hex[:6]}"
        # Playwright's sync API runs an event loop here: without _sync, save would be a coroutine
        LLMProvider(endpoint=model.endpoint, model="m").save(provider, _sync=True)
        key, log = f"browser-{uuid.uuid4().hex[:8]}", tmp_path / "ran.log"
        model.script(key, call(("shell", {"command": f"echo asked >> {log}"})), say("done"))
        run = Background(
            {
                "name": f"browser-agent-{uuid.uuid4().hex[:6]}",
                "agents": {
                    "ops": {
                        "provider": provider,
                        "system": key,
                        "tools": [{"agent": "shell", "approval": True}],
                    }
                },
                "steps": [{"id": "ops", "agent": "ops", "input": {"prompt": "go"}}],
            }
        )
        asked = "ops/turn-1/call-1/approval"
        run.until_waiting(asked)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            _open_form_v2(page, prefect_api.removesuffix("/api"), run.id)
            dialog = page.get_by_role("dialog")
            dialog.get_by_text("ops wants to call shell").wait_for()
            dialog.get_by_text(f"echo asked >> {log}").first.wait_for()  # the call, shown
            _decide(page, dialog, "v2", "Approve")
            edited = json.dumps({"command": f"echo edited >> {log}"})
            arguments = dialog.locator("textarea").last  # after the comment: prefilled
            assert json.loads(arguments.input_value()) == {"command": f"echo asked >> {log}"}
            arguments.fill(edited)
            dialog.get_by_role("button", name="Resume").click()
            done = run.finish(timeout=60)
        finally:
            page.close()
        assert done.state.is_completed(), done.state
        assert log.read_text().split() == ["edited"]
        told = model.of(key)[1]["body"]["messages"][-1]["content"]
        assert told.startswith(f"(a person changed the arguments to {edited})")
    finally:
        model.close()
