"""Who sees and may do what through the console's own requests, and the console for
everyone: a viewer has no write controls and the server refuses their writes anyway,
another team's data does not show, a cross-site form post is refused, the keyboard alone
logs in and works a dialog, the pages fit 360 px, the dark theme follows the system, and
the console works under a path prefix."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pyotp
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import FilePayload, expect
from starlette.applications import Starlette
from starlette.routing import Mount

from mmstack.api.app import create_app, server_config
from mmstack.auth.audit import Actor
from mmstack.auth.roles import Role
from mmstack.config.settings import IngestSettings, Settings
from mmstack.store.ownership import Owner
from tests.api.live_server import LiveServer
from tests.console.conftest import Session, console_url, make_user
from tests.documents import make_pdf


@pytest.fixture(scope="module")
def teams(console_server: LiveServer) -> dict[str, Any]:
    """Team A's collection (with a file), a viewer in team A, and a developer of team B."""
    stack = console_server.stack
    accounts = stack.auth.accounts
    accounts.create_team("blue", actor=Actor.local())
    viewer = make_user(console_server, "vera", Role.VIEWER)
    outsider = make_user(console_server, "otto", Role.DEVELOPER, team="blue")
    collection = stack.collections.create("team-a-secrets").id
    stack.intake.add_file(collection, "plans.txt", b"The launch is planned for May.")
    return {"viewer": viewer, "outsider": outsider, "collection": collection}


def test_a_viewer_sees_no_write_controls_and_the_server_refuses_their_writes(
    console_server: LiveServer, teams: dict[str, Any], new_session: Any
) -> None:
    vera: Session = new_session(console_url(console_server), "viewer")
    vera.login("vera", teams["viewer"])
    page = vera.page
    expect(page.get_by_role("link", name="team-a-secrets")).to_be_visible()
    expect(page.get_by_role("button", name="New collection")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete team-a-secrets")).to_have_count(0)
    expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    page.get_by_role("link", name="team-a-secrets").click()
    expect(page.get_by_role("heading", name="team-a-secrets")).to_be_visible()
    expect(page.get_by_test_id("dropzone")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete plans.txt")).to_have_count(0)
    vera.shot("viewer-collection")
    vera.check_accessibility("viewer's collection page")

    collection = teams["collection"]
    assert vera.api("POST", "api/collections", {"name": "mine"})["status"] == 403
    assert vera.api("DELETE", f"api/collections/{collection}")["status"] == 403
    renamed = vera.api("PATCH", f"api/collections/{collection}", {"name": "renamed"})
    assert renamed["status"] == 403
    assert vera.api("GET", "api/users")["status"] == 403
    # What a viewer may do: read, and keep conversations of their own.
    assert vera.api("GET", f"api/collections/{collection}")["status"] == 200
    made = vera.api("POST", "api/conversations", {"collections": [collection]})
    assert made["status"] == 201, made
    assert console_server.stack.collections.get(collection).collection.name == "team-a-secrets"
    vera.assert_no_errors()


def test_nothing_of_another_team_shows_or_answers(
    console_server: LiveServer, teams: dict[str, Any], new_session: Any
) -> None:
    otto: Session = new_session(console_url(console_server), "other-team")
    otto.login("otto", teams["outsider"])
    page = otto.page
    expect(page.get_by_text("No collections yet.")).to_be_visible()
    expect(page.get_by_role("link", name="team-a-secrets")).to_have_count(0)
    page.get_by_role("link", name="Search").click()
    page.get_by_label("Search your files").fill("launch planned")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("Nothing found")).to_be_visible()
    page.get_by_role("link", name="Chat").click()
    expect(page.get_by_role("navigation", name="Shared with you")).to_have_count(0)
    otto.shot("other-team")

    collection = teams["collection"]
    assert otto.api("GET", f"api/collections/{collection}")["status"] == 404
    assert otto.api("GET", f"api/collections/{collection}/files")["status"] == 404
    asked = otto.api("POST", "api/conversations", {"collections": [collection]})
    assert asked["status"] == 404, asked
    # A conversation a team shares is not there at all for another team.
    owner = console_server.stack.auth.accounts.get_user("vera")
    shared = console_server.stack.conversations.for_user(owner.id, owner.team_id).create(
        title="plans", collection_ids=[collection]
    )
    console_server.stack.conversations.for_user(owner.id, owner.team_id).update(
        shared.id, shared=True
    )
    assert otto.api("GET", f"api/conversations/{shared.id}")["status"] == 404
    otto.assert_no_errors()


def test_a_cross_site_form_post_is_refused_and_the_console_sets_no_cookie(
    console_server: LiveServer, new_session: Any, artifacts: Path
) -> None:
    """The console's login lives in the tab (sessionStorage) and travels only in the
    Authorization header: a form another site posts carries no credentials."""
    base = console_url(console_server)
    admin: Session = new_session(base, "cross-site")
    password = make_user(console_server, "carol", Role.ADMIN)
    admin.login("carol", password)
    assert admin.context.cookies() == []

    evil = admin.context.new_page()
    evil.set_content(
        f"""<form id="f" method="post" action="{base}api/collections"
              enctype="text/plain"><input name='{{"name":"pwned","x":"' value='"}}'></form>"""
    )
    with evil.expect_response(f"{base}api/collections") as answer:
        evil.evaluate("document.getElementById('f').submit()")
    assert answer.value.status == 401
    names = [c.collection.name for c in console_server.stack.collections.list_all()]
    assert "pwned" not in names


def test_the_keyboard_alone_logs_in_and_works_a_dialog(
    console_server: LiveServer, new_session: Any
) -> None:
    kim: Session = new_session(console_url(console_server), "keyboard")
    password = make_user(console_server, "kim", Role.DEVELOPER)
    kim.open()
    page = kim.page
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("kim")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Collections")).to_be_visible()

    # On a page load, the skip link is the first stop and moves the focus to the content.
    page.reload()
    expect(page.get_by_role("heading", name="Collections")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    outline = page.get_by_role("link", name="Skip to content").evaluate(
        "element => getComputedStyle(element).outlineStyle"
    )
    assert outline != "none"
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    new = page.get_by_role("button", name="New collection")
    new.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="New collection")
    expect(dialog.get_by_label("Name")).to_be_focused()
    page.keyboard.type("keyboard-made")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="keyboard-made")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Collections").focus()
    page.keyboard.press("Enter")
    delete = page.get_by_role("button", name="Delete keyboard-made")
    delete.focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("dialog", name="Delete keyboard-made?")
    expect(confirm).to_contain_text("This cannot be undone")
    expect(confirm.get_by_role("button", name="Keep it")).to_be_focused()
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(page.get_by_role("link", name="keyboard-made")).to_be_visible()
    kim.shot("keyboard")
    kim.assert_no_errors()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_fit_a_phone_and_follow_the_system_theme(
    console_server: LiveServer, new_session: Any, scheme: str
) -> None:
    phone: Session = new_session(
        console_url(console_server),
        f"phone-{scheme}",
        viewport={"width": 360, "height": 740},
        color_scheme=scheme,
        is_mobile=True,
    )
    password = make_user(console_server, f"pat{scheme}", Role.DEVELOPER)
    phone.login(f"pat{scheme}", password)
    page = phone.page
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    channels = [int(c) for c in background.removeprefix("rgb(").rstrip(")").split(",")[:3]]
    assert (sum(channels) / 3 < 60) if scheme == "dark" else (sum(channels) / 3 > 200), background
    for fragment, name in (
        ("#/collections", "collections"),
        ("#/search", "search"),
        ("#/chat", "chat"),
        ("#/account", "account"),
    ):
        phone.open(fragment)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than the screen"
        phone.shot(name)
        phone.check_accessibility(f"{name} at 360 px, {scheme}")
    phone.assert_no_errors()


@pytest.fixture(scope="module")
def prefixed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The app behind a path prefix, as a reverse proxy that strips it would serve it:
    (the console's URL, the first admin's password)."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("prefixed"),
        ingest=IngestSettings(workers=1),
        llm={"embedded": {"enabled": False}},
    )
    inner = create_app(settings)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> Any:
        async with inner.router.lifespan_context(inner):
            yield

    outer = Starlette(routes=[Mount("/mmstack", app=inner)], lifespan=lifespan)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = server_config(FastAPI(), settings)
    config.app = outer
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    first = inner.state.stack.auth.first_admin
    try:
        yield f"http://127.0.0.1:{port}/mmstack/", first.password
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def test_the_console_works_under_a_path_prefix(
    prefixed_server: tuple[str, str], new_session: Any
) -> None:
    base, password = prefixed_server
    admin: Session = new_session(base, "prefixed")
    requested: list[str] = []
    admin.page.on("request", lambda request: requested.append(request.url))
    admin.login("admin", password)
    page = admin.page
    page.get_by_role("button", name="New collection").click()
    page.get_by_role("dialog").get_by_label("Name", exact=True).fill("under-a-prefix")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="under-a-prefix")).to_be_visible()
    note: FilePayload = {"name": "note.txt", "mimeType": "text/plain", "buffer": b"Prefixes work."}
    page.locator("[data-testid=file-input]").set_input_files(files=[note])
    row = page.locator("[data-testid=file-row][data-filename='note.txt']")
    expect(row).to_have_attribute("data-status", "completed", timeout=60_000)
    admin.shot("prefixed")
    outside = [url for url in requested if not url.startswith(base)]
    assert not outside, outside
    admin.assert_no_errors()


def test_two_factor_authentication_is_turned_on_and_asked_for_at_login(
    console_server: LiveServer, new_session: Any
) -> None:
    tess: Session = new_session(console_url(console_server), "two-factor")
    password = make_user(console_server, "tess", Role.DEVELOPER)
    tess.login("tess", password)
    page = tess.page
    page.get_by_role("link", name="Account of tess").click()
    page.get_by_role("button", name="Turn on").click()
    secret = page.get_by_test_id("totp-secret").inner_text()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    codes = page.get_by_role("status").filter(has_text="Recovery codes").locator("code")
    expect(codes).to_have_count(10)
    recovery = codes.first.inner_text()
    expect(page.get_by_text("On: logging in needs a code")).to_be_visible()
    tess.shot("two-factor-on")
    page.get_by_role("button", name="Log out", exact=True).click()

    page.get_by_label("Username").fill("tess")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    code = page.get_by_label("Code from your authenticator app")
    expect(code).to_be_focused()
    tess.shot("two-factor-asked")
    page.get_by_role("button", name="Use a recovery code").click()
    page.get_by_label("Recovery code").fill(recovery)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Account of tess")).to_be_visible()
    tess.assert_no_errors()


def test_a_login_that_ends_on_the_server_returns_the_console_to_the_login_form(
    console_server: LiveServer, new_session: Any
) -> None:
    """The console's session is the API's: when an admin disables the user, their next
    request is refused and the console asks them to log in."""
    uma: Session = new_session(console_url(console_server), "ended")
    password = make_user(console_server, "uma", Role.DEVELOPER)
    uma.login("uma", password)
    console_server.stack.auth.accounts.set_disabled("uma", True, actor=Actor.local())
    uma.page.get_by_role("link", name="Search").click()
    expect(uma.page.get_by_label("Username")).to_be_visible()
    expect(uma.page.get_by_test_id("login-ended")).to_contain_text("Your login has ended")
    uma.shot("login-ended")
    assert uma.page.evaluate("sessionStorage.getItem('mmstack.session')") is None


def test_the_rest_of_the_controls_work_as_a_person_uses_them(
    console_server: LiveServer, new_session: Any
) -> None:
    """Rename, retry, delete, page turning, a search filter, a conversation's rename and
    delete, and a password change, each through its own button."""
    rita: Session = new_session(console_url(console_server), "controls")
    password = make_user(console_server, "rita", Role.DEVELOPER)
    rita.login("rita", password)
    page = rita.page
    page.get_by_role("button", name="New collection").click()
    page.get_by_role("dialog").get_by_label("Name", exact=True).fill("drafts")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("link", name="Collections", exact=True).click()
    page.get_by_role("button", name="Rename drafts").click()
    page.get_by_role("dialog").get_by_label("Name", exact=True).fill("final-drafts")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("link", name="final-drafts").click()

    pdf = make_pdf(["Cover page.", "Second page about the budget."])
    files: list[FilePayload] = [
        {"name": "plan.pdf", "mimeType": "application/pdf", "buffer": pdf},
        {"name": "torn.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7\ntorn"},
    ]
    page.locator("[data-testid=file-input]").set_input_files(files=files)
    torn = page.locator("[data-testid=file-row][data-filename='torn.pdf']")
    plan = page.locator("[data-testid=file-row][data-filename='plan.pdf']")
    expect(torn).to_have_attribute("data-status", "failed", timeout=60_000)
    expect(plan).to_have_attribute("data-status", "completed", timeout=60_000)
    page.get_by_role("button", name="Retry torn.pdf").click()
    expect(torn).to_have_attribute("data-status", "failed", timeout=60_000)
    expect(page.get_by_role("alert")).to_have_count(0)

    page.get_by_role("button", name="plan.pdf", exact=True).click()
    viewer = page.get_by_role("dialog", name="plan.pdf")
    expect(viewer.get_by_test_id("viewer-page")).to_have_text("Page 1 of 2")
    viewer.get_by_role("button", name="Next page").click()
    expect(viewer.get_by_test_id("viewer-page")).to_have_text("Page 2 of 2")
    expect(viewer.get_by_role("img", name="Page 2 of plan.pdf")).to_be_visible()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Delete plan.pdf").click()
    page.get_by_role("button", name="Remove file").click()
    expect(plan).to_have_count(0)

    page.get_by_role("link", name="Search").click()
    page.get_by_label("Search your files").fill("torn budget")
    page.get_by_text("Filters").click()
    page.get_by_role("checkbox", name="Pictures").check()
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("Nothing found")).to_be_visible()

    collection = console_server.stack.collections.for_owner(
        Owner(console_server.stack.auth.accounts.get_user("rita").team_id)
    ).resolve_id("final-drafts")
    made = rita.api("POST", "api/conversations", {"collections": [collection]})
    rita.open(f"#/chat/{made['body']['id']}")
    page.get_by_role("button", name="Rename").click()
    page.get_by_label("Title", exact=True).fill("Budget talk")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Budget talk")).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Delete conversation").click()
    expect(page.get_by_role("heading", name="New conversation")).to_be_visible()
    expect(page.get_by_role("link", name="Budget talk")).to_have_count(0)

    page.get_by_role("link", name="Account of rita").click()
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password", exact=True).fill("Quiet-Lantern-Orchard-73")
    page.get_by_label("New password again").fill("Quiet-Lantern-Orchard-73")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_label("Username")).to_be_visible()
    rita.login("rita", "Quiet-Lantern-Orchard-73")
    rita.shot("controls")
    rita.assert_no_errors()
