"""The page a citation's link opens (`/cite/...`), the way someone who clicked a source in
their chat client sees it: no login, the quote marked in its text, the PDF page with the
quoted lines outlined; readable with a screen reader (axe) and in the dark theme; a link
that was tampered with says so."""

from __future__ import annotations

from typing import Any

import openai

from mmstack.api.citation_links import CitedPlace
from tests.api.live_server import LiveServer
from tests.console.conftest import Session, console_url, first_admin_password
from tests.documents import make_pdf
from tests.pictures import encode, text_image

# Words no other console test searches for: this server is shared by the package's tests.
PAGES = [
    "Harbour log. The ferry Marisol docks at pier nine every morning.",
    "Inspection. The inspectors found cracked hinges on the loading ramp of the Marisol.",
    "Repairs. The ramp hinges were welded in the dry dock at Tessara over four days.",
]


def test_a_citation_link_shows_the_quoted_lines_on_their_page(
    console_server: LiveServer, new_session: Any
) -> None:
    client = openai.OpenAI(base_url=console_server.base_url, api_key=console_server.api_key)
    uploaded = client.files.create(
        file=("harbour.pdf", make_pdf(PAGES), "application/pdf"), purpose="assistants"
    )
    store = client.vector_stores.create(name="citation-page")
    attached = client.vector_stores.files.create_and_poll(uploaded.id, vector_store_id=store.id)
    assert attached.status == "completed"
    stack = console_server.stack
    text = stack.collections.file_text(store.id, uploaded.id)
    quote = "ramp hinges were welded in the dry dock at Tessara"
    start = text.index(quote)
    team = stack.collections.row(store.id).team_id
    place = CitedPlace(team, store.id, uploaded.id, start, start + len(quote), page=3)
    link = "cite/" + stack.auth.links.sign("cite", place.claims())

    reader: Session = new_session(console_url(console_server), "citation")
    reader.open(link)
    page = reader.page
    assert page.get_by_role("heading", level=1).inner_text() == "harbour.pdf"
    assert page.locator("mark").inner_text() == quote
    picture = page.get_by_role("img", name="Page 3, the quoted lines outlined")
    assert picture.is_visible()
    assert picture.locator("rect").count() >= 1
    reader.shot("page")
    reader.check_accessibility("citation page")

    # Its way into the console: the collection, once the reader has logged in.
    page.get_by_role("link", name="Open the collection in the console").click()
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password", exact=True).fill(first_admin_password(console_server))
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="citation-page").wait_for()
    reader.shot("console")
    reader.page.context.clear_cookies()
    reader.page.evaluate("sessionStorage.clear()")

    dark: Session = new_session(console_url(console_server), "citation-dark", color_scheme="dark")
    dark.open(link)
    background = dark.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(20, 22, 27)"
    dark.shot("page")
    dark.check_accessibility("citation page, dark")

    reader.open(link[:-6] + "AAAAAA")
    assert page.get_by_role("heading", level=1).inner_text() == "This citation cannot be shown"
    assert "This link is not valid." in page.locator("main").inner_text()
    reader.shot("forged")
    reader.assert_no_errors()
    client.vector_stores.delete(store.id)
    client.files.delete(uploaded.id)


def test_a_citation_link_outlines_the_words_on_their_picture(
    console_server: LiveServer, new_session: Any
) -> None:
    client = openai.OpenAI(base_url=console_server.base_url, api_key=console_server.api_key)
    sign = encode(text_image(["GATE 7 CLOSED FOR REPAIRS"], size=(900, 160), font_size=48), "PNG")
    uploaded = client.files.create(file=("gate.png", sign, "image/png"), purpose="assistants")
    store = client.vector_stores.create(name="citation-picture")
    attached = client.vector_stores.files.create_and_poll(uploaded.id, vector_store_id=store.id)
    assert attached.status == "completed"
    stack = console_server.stack
    (read,) = [c for c in stack.collections.file_passages(store.id, uploaded.id) if c.region]
    assert read.region is not None
    left, top, right, bottom = read.region
    region = (left, top, right, bottom)
    team = stack.collections.row(store.id).team_id
    place = CitedPlace(
        team,
        store.id,
        uploaded.id,
        read.char_start,
        read.char_end,
        region=region,
    )
    link = "cite/" + stack.auth.links.sign("cite", place.claims())

    viewer: Session = new_session(console_url(console_server), "citation-picture")
    viewer.open(link)
    picture = viewer.page.get_by_role("img", name="gate.png, the quoted text outlined")
    assert picture.is_visible()
    box = picture.locator("rect")
    assert box.get_attribute("x") == str(region[0])
    assert box.get_attribute("width") == str(region[2] - region[0])
    media = viewer.page.request.get(console_url(console_server) + link + "/media")
    assert media.status == 200
    assert media.headers["content-type"] == "image/png"
    viewer.shot("picture")
    viewer.check_accessibility("citation page, picture")
    viewer.assert_no_errors()
    client.vector_stores.delete(store.id)
    client.files.delete(uploaded.id)
