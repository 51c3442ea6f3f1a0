"""The Agents page as people use it, in Chromium: a developer makes an agent, tries it
(the bundled 1.5B model answers through the Responses API as the model agent/<name>),
edits and deletes it; a viewer sees and tries agents and changes none."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from mmstack.auth.roles import Role
from tests.api.live_server import LiveServer
from tests.console.conftest import SLOW_MS, Session, console_url, make_user


def test_an_agent_is_made_tried_edited_and_deleted(
    console_server: LiveServer, new_session: Any
) -> None:
    maker: Session = new_session(console_url(console_server), "agents")
    maker.login("agent-maker", make_user(console_server, "agent-maker", Role.DEVELOPER))
    page = maker.page
    page.get_by_role("link", name="Agents").click()
    expect(page.get_by_role("heading", name="Agents", level=1)).to_be_visible()
    expect(page.get_by_text("No agents yet.")).to_be_visible()

    page.get_by_role("button", name="New agent").click()
    dialog = page.get_by_role("dialog", name="New agent")
    expect(dialog.get_by_label("Name")).to_be_focused()
    dialog.get_by_label("Name").fill("capitals")
    dialog.get_by_label("Instructions").fill("Answer with the name of the city only.")
    dialog.get_by_label("Tools (optional, JSON)").fill("[{")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Tools: not JSON")
    dialog.get_by_label("Tools (optional, JSON)").fill("")
    maker.check_accessibility("new agent dialog")
    dialog.get_by_role("button", name="Create").click()
    row = page.get_by_role("row", name=re.compile(r"^capitals"))
    expect(row).to_contain_text("default")
    maker.shot("agent-made")
    maker.check_accessibility("agents")

    page.get_by_role("button", name="Try capitals").click()
    page.get_by_label("Question").fill("What is the capital of France?")
    page.get_by_label("Question").press("Tab")
    page.keyboard.press("Enter")  # the Ask button, from the keyboard
    expect(page.get_by_test_id("agent-answer")).to_contain_text("Paris", timeout=SLOW_MS)
    maker.shot("agent-answered")

    page.get_by_role("button", name="Edit capitals").click()
    dialog = page.get_by_role("dialog", name="Edit capitals")
    expect(dialog.get_by_label("Instructions")).to_have_value(
        "Answer with the name of the city only."
    )
    dialog.get_by_label("Description (optional)").fill("Knows the capitals")
    dialog.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("Knows the capitals")

    viewer: Session = new_session(console_url(console_server), "agents-viewer")
    viewer.login("agent-viewer", make_user(console_server, "agent-viewer", Role.VIEWER))
    viewer.page.get_by_role("link", name="Agents").click()
    expect(viewer.page.get_by_role("row", name=re.compile(r"^capitals"))).to_be_visible()
    expect(viewer.page.get_by_role("button", name="Try capitals")).to_be_visible()
    expect(viewer.page.get_by_role("button", name="New agent")).to_have_count(0)
    expect(viewer.page.get_by_role("button", name="Edit capitals")).to_have_count(0)
    viewer.assert_no_errors()

    page.get_by_role("button", name="Delete capitals").click()
    page.get_by_role("dialog", name="Delete capitals?").get_by_role(
        "button", name="Delete agent"
    ).click()
    expect(page.get_by_text("No agents yet.")).to_be_visible()
    maker.assert_no_errors()
