"""The console driven the way people use it: Debian's Chromium (headless) through
Playwright, against a live mmstack server with the real models. Screenshots of each step
go to tests/artifacts/console/ for review; axe-core (vendored in axe-playwright-python)
checks every page. The browser and the server live as long as this package's tests (the
server holds the 1.5B model: it is not kept for the rest of the run)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from mmstack.auth.audit import Actor
from mmstack.auth.roles import Role
from mmstack.config.settings import IngestSettings, MediaSettings, Settings
from mmstack.stack import Stack
from tests.api.live_server import LiveServer, serve
from tests.pictures import OCR_THREADS

CHROMIUM = os.environ.get("MMSTACK_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "console"
# Answers from the 1.5B model on these CPUs take tens of seconds; ingesting a video, more.
SLOW_MS = 600_000


@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"the console tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    launched = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield launched
    launched.close()


@pytest.fixture(scope="package")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="package")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The server as `mmstack up` runs it (embedded defaults, the bundled 1.5B model), with
    one ingestion worker."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("console"),
        ingest=IngestSettings(workers=1, retry_base_seconds=0.01, max_attempts=2),
        media=MediaSettings(ocr_threads=OCR_THREADS, speech_threads=2),
    )
    with serve(settings) as server:
        yield server


def console_url(server: LiveServer) -> str:
    return server.base_url.removesuffix("v1")


def server_stack(server: LiveServer) -> Stack:
    return server.stack


def first_admin_password(server: LiveServer) -> str:
    first = server.stack.auth.first_admin
    assert first is not None, "the server made its first admin"
    assert first.password
    return first.password


def make_user(server: LiveServer, username: str, role: Role, *, team: str | None = None) -> str:
    """A user with a password of their own (returned)."""
    accounts = server.stack.auth.accounts
    password = f"Correct-Horse-Battery-{len(username)}-Staple"
    kwargs: dict[str, Any] = {"team": team} if team else {}
    accounts.create_user(username, role=role, actor=Actor.local(), password=password, **kwargs)
    return password


class Session:
    """One person's browser tab: its page, its console errors, screenshots and checks."""

    def __init__(self, context: BrowserContext, base: str, artifacts: Path, name: str) -> None:
        self.context = context
        self.page: Page = context.new_page()
        self.base = base
        self.artifacts = artifacts
        self.name = name
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on(
            "console",
            lambda message: (
                self.errors.append(f"console {message.type}: {message.text}")
                if message.type == "error" and not _expected_refusal(message.text)
                else None
            ),
        )
        self.shots = 0

    def open(self, fragment: str = "") -> None:
        self.page.goto(self.base + fragment)

    def login(self, username: str, password: str) -> None:
        self.open()
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password", exact=True).fill(password)
        self.page.get_by_role("button", name="Log in").click()
        self.page.get_by_role("link", name=f"Account of {username}").wait_for()

    def shot(self, step: str) -> Path:
        self.shots += 1
        path = self.artifacts / f"{self.name}-{self.shots:02d}-{step}.png"
        self.page.screenshot(path=path, full_page=True)
        return path

    def check_accessibility(self, where: str) -> None:
        """No serious or critical axe-core violation on the page as it is now."""
        results = Axe().run(self.page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(node["target"]) for node in v["nodes"][:3])
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"{where}: " + "; ".join(bad)

    def api(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """A request from the page with the login's own token, as the console sends it:
        {"status": ..., "body": ...}."""
        result: dict[str, Any] = self.page.evaluate(
            """async ([method, path, body]) => {
                const session = JSON.parse(sessionStorage.getItem("mmstack.session"));
                const response = await fetch(new URL(path, document.baseURI), {
                  method,
                  headers: {
                    authorization: `Bearer ${session.access}`,
                    "content-type": "application/json",
                  },
                  body: body === null ? undefined : JSON.stringify(body),
                });
                let data = null;
                try { data = await response.json(); } catch {}
                return { status: response.status, body: data };
            }""",
            [method, path, body],
        )
        return result

    def assert_no_errors(self) -> None:
        assert not self.errors, "\n".join(self.errors)


def _expected_refusal(text: str) -> bool:
    """The browser logs every failed request as a console error; the tests make some on
    purpose (a viewer's refused write, a wrong password)."""
    return bool(
        re.search(
            r"Failed to load resource: the server responded with a status of (401|403|404)", text
        )
    )


@contextmanager
def _sessions(browser: Browser, artifacts: Path) -> Iterator[Any]:
    contexts: list[BrowserContext] = []

    def make(server_base: str, name: str, **options: Any) -> Session:
        options.setdefault("viewport", {"width": 1280, "height": 860})
        context = browser.new_context(**options)
        context.set_default_timeout(30_000)
        contexts.append(context)
        return Session(context, server_base, artifacts, name)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def new_session(browser: Browser, artifacts: Path) -> Iterator[Any]:
    """Makes a browser tab of its own (a context: its own storage) for one person."""
    with _sessions(browser, artifacts) as make:
        yield make


@pytest.fixture(scope="module")
def new_module_session(browser: Browser, artifacts: Path) -> Iterator[Any]:
    with _sessions(browser, artifacts) as make:
        yield make
