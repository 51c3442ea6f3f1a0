"""A new user's first hour in the console, step by step, in Chromium: log in with the
generated password, make a collection, upload a folder of every kind of file (one
corrupt), watch each reach completed or failed without reloading, search, ask a question
answered on page 2 of the PDF and one answered by a sentence spoken at a known second,
open each citation at its place, share the conversation, and use the admin pages.

The steps share one server and one admin tab and run in order."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import pytest
from playwright.sync_api import expect

from mmstack.auth.roles import Role
from tests.api.live_server import LiveServer
from tests.console.conftest import (
    SLOW_MS,
    Session,
    console_url,
    first_admin_password,
    make_user,
)
from tests.documents import make_pdf
from tests.media.video_samples import talk
from tests.pictures import encode, text_image
from tests.speech import recording

PAGE_ONE = "Quarterly report. Revenue grew in every region during the first quarter."
PAGE_TWO = (
    "Staffing. The company hired forty engineers and opened an office in Lisbon to support "
    "customers in southern Europe."
)
INSPECTION = "The warehouse inspection is on Thursday morning."
SPOKEN_FROM = 5.0  # seconds of silence before the sentence
FOLDER_FILES = {
    "report.pdf": "completed",
    "policy.docx": "completed",
    "scan.png": "completed",
    "inspection.wav": "completed",
    "talk.mp4": "completed",
    "broken.pdf": "failed",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("upload") / "team-files"
    root.mkdir()
    (root / "report.pdf").write_bytes(make_pdf([PAGE_ONE, PAGE_TWO]))
    document = docx.Document()
    document.add_heading("Travel policy", level=1)
    document.add_paragraph("Employees book train tickets for trips under four hours.")
    document.save(str(root / "policy.docx"))
    picture = text_image(["INVOICE 4471", "Total due: 310 euros"], size=(900, 200), font_size=48)
    (root / "scan.png").write_bytes(encode(picture, "PNG"))
    recording(root / "inspection.wav", [SPOKEN_FROM, INSPECTION, 1.0])
    talk(root / "talk.mp4")
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\nthis is not a PDF at all\n")
    return root


@pytest.fixture(scope="module")
def admin(console_server: LiveServer, new_module_session: Any) -> Iterator[Session]:
    session: Session = new_module_session(console_url(console_server), "admin")
    yield session
    session.assert_no_errors()


def test_the_first_admin_logs_in_and_is_told_to_change_the_generated_password(
    console_server: LiveServer, admin: Session
) -> None:
    page = admin.page
    admin.open()
    admin.shot("login")
    admin.check_accessibility("login page")
    admin.login("admin", first_admin_password(console_server))
    expect(page.get_by_role("status").filter(has_text="choose your own password")).to_be_visible()
    expect(page.get_by_role("heading", name="Collections")).to_be_visible()
    admin.shot("collections-empty")
    admin.check_accessibility("collections page")


def test_a_collection_is_made_and_a_folder_uploaded_reaches_completed_or_failed_live(
    admin: Session, folder: Path
) -> None:
    page = admin.page
    page.get_by_role("button", name="New collection").click()
    page.get_by_role("dialog").get_by_label("Name", exact=True).fill("handbook")
    page.get_by_label("Description (optional)").fill("What the team needs to know")
    admin.shot("new-collection-dialog")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="handbook")).to_be_visible()
    admin.check_accessibility("empty collection page")

    page.locator("[data-testid=folder-input]").set_input_files(folder)
    # A file dropped onto the zone joins the same uploads.
    page.evaluate(
        """() => {
            const transfer = new DataTransfer();
            const text = "Parking is free on weekends.";
            transfer.items.add(new File([text], "parking.txt", { type: "text/plain" }));
            document.querySelector("[data-testid=dropzone]").dispatchEvent(
                new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }"""
    )
    expected = {**FOLDER_FILES, "parking.txt": "completed"}
    expect(page.locator("[data-testid=upload-item]")).to_have_count(len(expected))
    admin.shot("uploading")
    # Every row reaches its end state in place: the page is never reloaded.
    page.evaluate("window.__notReloaded = true")
    for name, status in expected.items():
        row = page.locator(f"[data-testid=file-row][data-filename='{name}']")
        expect(row).to_have_attribute("data-status", status, timeout=SLOW_MS)
    assert page.evaluate("window.__notReloaded") is True
    summary = page.get_by_test_id("upload-summary")
    expect(summary).to_have_text(re.compile(r"7 files, 6 completed, 1 failed"))
    failed = page.locator("[data-testid=file-row][data-filename='broken.pdf']")
    expect(failed.get_by_test_id("file-error")).not_to_be_empty()
    expect(failed.get_by_role("button", name="Retry broken.pdf")).to_be_visible()
    report = page.locator("[data-testid=file-row][data-filename='report.pdf']")
    expect(report).to_contain_text("2 pages")
    recording_row = page.locator("[data-testid=file-row][data-filename='inspection.wav']")
    expect(recording_row).to_contain_text(re.compile(r"0:0\d"))
    admin.shot("uploaded")
    admin.check_accessibility("collection with files")


def test_a_file_opens_in_the_viewer(admin: Session) -> None:
    page = admin.page
    page.get_by_role("button", name="scan.png", exact=True).click()
    dialog = page.get_by_role("dialog", name="scan.png")
    expect(dialog.get_by_role("img", name="scan.png")).to_be_visible()
    expect(dialog.get_by_label("Text read from the file")).to_contain_text("INVOICE")
    # The regions the text was read from are outlined on the picture.
    expect(dialog.get_by_test_id("viewer-region").locator("rect.read")).not_to_have_count(0)
    admin.shot("viewer-picture")
    admin.check_accessibility("viewer")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_search_marks_the_words_and_names_the_page(
    console_server: LiveServer, admin: Session
) -> None:
    page = admin.page
    page.get_by_role("link", name="Search").click()
    page.get_by_label("Search your files").fill("engineers hired for Lisbon")
    page.get_by_role("button", name="Search").click()
    first = page.get_by_test_id("search-result").first
    expect(first).to_contain_text("report.pdf")
    expect(first).to_contain_text("page 2")
    expect(first.locator("mark").first).to_be_visible()
    page.get_by_text("Filters").click()
    expect(page.get_by_text(re.compile(r"Documents \(\d+\)"))).to_be_visible()
    admin.shot("search")
    admin.check_accessibility("search page")
    first.get_by_role("button", name="report.pdf", exact=True).click()
    dialog = page.get_by_role("dialog", name="report.pdf")
    expect(dialog.get_by_test_id("viewer-where")).to_have_text("Opened at page 2")
    expect(dialog.get_by_test_id("viewer-quote")).to_contain_text("forty engineers")
    page.keyboard.press("Escape")
    # Opening the first result was counted for the query's click-through.
    analytics = console_server.stack.analytics
    deadline = time.monotonic() + 10
    while True:
        analytics.flush()
        today = int(time.time() // 86400)
        counted = {q.query: q for q in analytics.queries(since_day=today, until_day=today)}
        searched = counted.get("engineers hired for lisbon")
        if (searched and searched.clicks) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert searched is not None
    assert (searched.clicks, searched.mean_click_rank, searched.click_through) == (1, 1, 1)


def _ask(admin: Session, question: str) -> Any:
    page = admin.page
    before = page.get_by_test_id("message-assistant").count()
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")
    answer = page.get_by_test_id("message-assistant").nth(before)
    expect(answer).to_have_attribute("aria-busy", "false", timeout=SLOW_MS)
    return answer


def test_an_answer_cites_page_two_and_the_citation_opens_it(admin: Session) -> None:
    page = admin.page
    page.get_by_role("link", name="Chat").click()
    page.get_by_role("checkbox", name="handbook").check()
    answer = _ask(admin, "How many engineers did the company hire?")
    expect(answer.locator(".answer-text")).to_contain_text(re.compile(r"forty|40"))
    admin.shot("answer-page-two")
    citation = answer.get_by_test_id("citation").first
    expect(citation).to_have_accessible_name(re.compile(r"report\.pdf, p\. 2"))
    citation.click()
    dialog = page.get_by_role("dialog", name="report.pdf")
    expect(dialog.get_by_test_id("viewer-where")).to_have_text("Opened at page 2")
    expect(dialog.get_by_test_id("viewer-quote")).to_contain_text("engineers")
    # The page itself, with the quoted lines outlined on it.
    expect(dialog.get_by_test_id("viewer-page")).to_have_text("Page 2 of 2")
    expect(dialog.get_by_role("img", name="Page 2 of report.pdf")).to_be_visible()
    expect(dialog.get_by_test_id("viewer-page-quote").locator("rect")).not_to_have_count(0)
    admin.shot("citation-page-two")
    admin.check_accessibility("chat with a source open")
    page.keyboard.press("Escape")


def test_an_answer_spoken_in_a_recording_opens_the_player_at_its_second(admin: Session) -> None:
    page = admin.page
    answer = _ask(admin, "When is the warehouse inspection?")
    expect(answer.locator(".answer-text")).to_contain_text("Thursday")
    citation = answer.get_by_test_id("citation").first
    expect(citation).to_have_accessible_name(re.compile(r"inspection\.wav, at 0:0\d"))
    citation.click()
    dialog = page.get_by_role("dialog", name="inspection.wav")
    player = dialog.get_by_test_id("viewer-media")
    expect(player).to_be_visible()
    page.wait_for_function(
        """() => {
            const media = document.querySelector("[data-testid=viewer-media]");
            return media && media.readyState >= 1 && media.currentTime > 0;
        }"""
    )
    second = player.evaluate("media => media.currentTime")
    assert abs(second - SPOKEN_FROM) <= 3.0, second
    expect(dialog.get_by_test_id("viewer-where")).to_have_text(re.compile(r"Opened at 0:0\d"))
    # The transcript is a timeline: a part's time moves the player there.
    cited = dialog.get_by_role("region", name="Transcript").locator("li.cited")
    expect(cited).to_contain_text("warehouse inspection")
    player.evaluate("media => { media.pause(); media.currentTime = 0; }")
    cited.get_by_test_id("transcript-time").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=viewer-media]').currentTime > 2"
    )
    admin.shot("citation-spoken-second")
    page.keyboard.press("Escape")


def test_a_shared_conversation_is_read_only_for_the_team_and_updates_live(
    console_server: LiveServer, admin: Session, new_module_session: Any
) -> None:
    page = admin.page
    page.get_by_role("button", name="Share with the team").click()
    expect(page.get_by_role("button", name="Shared with the team")).to_have_attribute(
        "aria-pressed", "true"
    )
    conversation_url = page.url

    password = make_user(console_server, "dana", Role.DEVELOPER)
    dana: Session = new_module_session(console_url(console_server), "teammate")
    dana.login("dana", password)
    dana.page.get_by_role("link", name="Chat").click()
    shared = dana.page.get_by_role("navigation", name="Shared with you")
    shared.get_by_role("link").first.click()
    expect(dana.page.get_by_text("Shared with you to read")).to_be_visible()
    expect(dana.page.get_by_label("Your question")).to_have_count(0)
    expect(dana.page.get_by_test_id("message-assistant")).to_have_count(2)
    dana.shot("shared-conversation")

    # The owner asks on; the teammate's open page shows it without reloading.
    answer = _ask(admin, "What is the capital of Peru?")
    expect(answer.get_by_test_id("refusal")).to_contain_text("do not answer")
    expect(dana.page.get_by_test_id("message-assistant")).to_have_count(3, timeout=20_000)
    # A write to someone else's conversation is refused by the server.
    conversation_id = conversation_url.rsplit("/", 1)[1]
    refused = dana.api("PATCH", f"api/conversations/{conversation_id}", {"title": "mine now"})
    assert refused["status"] == 403, refused
    dana.shot("shared-conversation-updated")
    dana.assert_no_errors()


def test_the_admin_pages(console_server: LiveServer, admin: Session) -> None:
    page = admin.page
    page.get_by_role("link", name="Admin", exact=True).click()
    page.get_by_label("Username").fill("newbie")
    page.get_by_role("button", name="Create user").click()
    shown = page.get_by_test_id("shown-password")
    expect(shown).to_have_text(re.compile(r"\S{16,}"))
    admin.shot("admin-user-created")
    password_dialog = page.get_by_role("dialog", name="Password of newbie")
    expect(password_dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(password_dialog).to_be_hidden()
    row = page.locator("[data-testid=user-row][data-username=newbie]")
    row.get_by_label("Role of newbie").select_option("developer")
    expect(row.get_by_label("Role of newbie")).to_have_value("developer")
    row.get_by_role("button", name="Disable newbie").click()
    expect(row).to_contain_text("disabled")
    admin.check_accessibility("admin users")

    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_test_id("new-key")).to_have_text(re.compile(r"^mmk_"))
    shown_once = page.get_by_role("dialog", name="Your new API key")
    expect(shown_once).to_be_visible()
    page.keyboard.press("Escape")
    expect(shown_once).to_be_hidden()
    page.get_by_role("button", name="Revoke laptop").click()
    expect(page.get_by_role("row", name=re.compile("laptop"))).to_contain_text("revoked")
    admin.shot("admin-keys")
    admin.check_accessibility("admin keys")

    page.get_by_role("link", name="Usage").click()
    expect(page.get_by_role("img", name=re.compile("Tokens per day"))).to_be_visible()
    expect(page.get_by_role("table").first).to_contain_text("admin")
    admin.shot("admin-usage")
    admin.check_accessibility("admin usage")

    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action (or a prefix ending in “.”)").fill("user.")
    page.get_by_role("button", name="Filter").click()
    newbie = console_server.stack.auth.accounts.get_user("newbie").id
    disabled = page.get_by_test_id("audit-row").filter(has_text="user.disable")
    expect(disabled.filter(has_text=newbie)).to_have_count(1)
    admin.shot("admin-audit")
    admin.check_accessibility("admin audit")
