"""The client tier: Open WebUI, pinned, as a real client of a live `mmstack up`, driven in
Debian's Chromium. Nothing is typed into Open WebUI per model: it gets mmstack's address
and a key (the service key a deployment gives it) and nothing else. Checked, with a
screenshot of each step in bench/client-tier/ (the latest run's are committed):

- the model Open WebUI picks by default is a chat model (not the embedding or Whisper one);
- picking a knowledge model (`kb/<collection>`) answers a question from an ingested PDF,
  with a visible source naming the file and the page, whose link opens the cited page;
- the chat's title (Open WebUI's own background request) is not a refusal.

Open WebUI is installed once into .cache/client-tier/ (pip, several GB: it brings torch)
and run offline (no model downloads; its own embeddings come from mmstack's /v1).

    .venv/bin/python -m bench.client_tier [--open-webui-sources]

With `--open-webui-sources` (`knowledge.open_webui_sources`), mmstack streams Open WebUI's
own source events instead of `url_citation`s, and the run also checks that Open WebUI's
source window shows the quote.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from tests.documents import make_pdf

from bench.common import free_port, start_server, stop_server, wait_ready
from mmstack.client import Client

OPEN_WEBUI = "open-webui==0.12.4"
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "client-tier"
SHOTS = ROOT / "bench" / "client-tier"
CHROMIUM = os.environ.get("MMSTACK_BENCH_CHROMIUM", "/usr/bin/chromium")
PAGES = [
    "Pump station report. The station pumps water for the town of Arden and its farms.",
    "Maintenance. The cooling pump of the Aurora-7 station was replaced on 12 March 2024. "
    "The old pump had run for 41,000 hours before it failed.",
]
QUESTION = "When was the cooling pump of the Aurora-7 station replaced?"
KNOWLEDGE_NAME = "pump-reports (documents)"  # what Open WebUI shows of kb/pump-reports
ANSWER_SECONDS = 600


def open_webui() -> Path:
    """The pinned Open WebUI's executable, installed on first use."""
    venv = CACHE / OPEN_WEBUI.replace("==", "-")
    executable = venv / "bin" / "open-webui"
    if not executable.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q", OPEN_WEBUI]
        subprocess.run(pip, check=True)
    return executable


def service_key() -> str:
    return f"mmk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open-webui-sources", action="store_true")
    events = parser.parse_args().open_webui_sources
    SHOTS.mkdir(parents=True, exist_ok=True)
    executable = open_webui()
    work = Path(tempfile.mkdtemp(prefix="client-tier-"))
    key = service_key()
    ui_port = free_port()
    extra = {"MMSTACK_KNOWLEDGE__OPEN_WEBUI_SOURCES": "true" if events else "false"}
    with serving_pump_reports(work, key, extra) as mm_url:
        ui_env = {
            **os.environ,
            "DATA_DIR": str(work / "open-webui"),
            "WEBUI_AUTH": "False",
            "WEBUI_SECRET_KEY": secrets.token_hex(16),
            "ENABLE_OLLAMA_API": "False",
            "OPENAI_API_BASE_URL": f"{mm_url}/v1",
            "OPENAI_API_KEY": key,
            "OFFLINE_MODE": "True",
            "HF_HUB_OFFLINE": "1",
            "ENABLE_VERSION_UPDATE_CHECK": "False",
            "RAG_EMBEDDING_ENGINE": "openai",
            "RAG_EMBEDDING_MODEL": "text-embedding-3-small",
            "RAG_OPENAI_API_BASE_URL": f"{mm_url}/v1",
            "RAG_OPENAI_API_KEY": key,
            "ANONYMIZED_TELEMETRY": "False",
            "SCARF_NO_ANALYTICS": "true",
            "DO_NOT_TRACK": "true",
        }
        ui_log = work / "open-webui.log"
        ui_url = f"http://127.0.0.1:{ui_port}"
        ui = start_server(
            [str(executable), "serve", "--host", "127.0.0.1", "--port", str(ui_port)],
            ui_env,
            ui_log,
        )
        try:
            with httpx.Client(base_url=ui_url, timeout=30) as probe:
                wait_ready(probe, ui, ui_log, path="/health", seconds=600)
            results = drive(ui_url, mm_url, key, source_window=events)
        finally:
            stop_server(ui)
    for name, value in results.items():
        print(f"{name}: {value}")
    print(f"logs: {work}; screenshots: {SHOTS}")
    checks = [name for name, value in results.items() if value is False]
    if checks:
        raise SystemExit(f"failed: {checks}")


@contextmanager
def serving_pump_reports(work: Path, key: str, extra: dict[str, str]) -> Iterator[str]:
    """`mmstack up` (embedded defaults, `key` as its service key, `extra` settings) with the
    pump report ingested into `pump-reports`; its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MMSTACK_DATA_DIR": str(work / "mmstack"),
        "MMSTACK_AUTH__SERVICE_KEY": key,
        "MMSTACK_HTTP__ACCESS_LOG": "true",
        **extra,
    }
    log = work / "mmstack.log"
    server = start_server(
        [str(ROOT / ".venv" / "bin" / "mmstack"), "up", "--port", str(port)], env, log
    )
    try:
        with httpx.Client(base_url=url, timeout=30) as probe:
            wait_ready(probe, server, log)
        with Client(url, api_key=key) as mm:
            store = mm.collections.create("pump-reports")
            files = mm.collections.upload(store.id, [("pumps.pdf", make_pdf(PAGES))])
            (done,) = mm.collections.wait(store.id, [files[0].id], timeout=300)
            assert done.status == "completed", done
        yield url
    finally:
        stop_server(server)


def drive(ui_url: str, mm_url: str, key: str, *, source_window: bool) -> dict[str, object]:
    """The steps a person takes in Open WebUI, checked and photographed."""
    from playwright.sync_api import sync_playwright

    chat_models = [
        m["id"]
        for m in httpx.get(
            f"{mm_url}/v1/models", params={"kind": "chat"}, headers=_auth(key), timeout=30
        ).json()["data"]
        if not m.get("knowledge")
    ]
    results: dict[str, object] = {}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(ui_url)
        page.wait_for_timeout(4000)
        notes = page.get_by_text("Okay, Let's Go!")
        if notes.count():
            notes.click()
        picker = page.locator("#model-selector-model-button")
        default = (picker.get_attribute("aria-label") or "").removeprefix("Selected model: ")
        results["default model"] = default
        results["default model is a chat model"] = default in chat_models
        page.screenshot(path=SHOTS / "01-default-model.png")

        picker.click()
        page.wait_for_timeout(500)
        results["models offered"] = [
            option.inner_text().strip() for option in page.get_by_role("option").all()
        ]
        page.screenshot(path=SHOTS / "02-model-list.png")
        page.get_by_role("option", name=f"Select {KNOWLEDGE_NAME} model").click()

        page.locator("#chat-input").click()
        page.keyboard.type(QUESTION)
        asked = time.monotonic()
        page.keyboard.press("Enter")
        page.get_by_text("Sources:").first.wait_for(timeout=ANSWER_SECONDS * 1000)
        results["seconds to the answer"] = round(time.monotonic() - asked, 1)
        # The chat's title is Open WebUI's own request, made after the answer.
        deadline = time.monotonic() + ANSWER_SECONDS
        title = ""
        while time.monotonic() < deadline:
            chats = page.locator("a[href^='/c/']")
            title = chats.first.inner_text().split("\n")[0] if chats.count() else ""
            if title.strip() and title.strip() != "New Chat":
                break
            page.wait_for_timeout(2000)
        results["chat title"] = title.strip()
        results["title is not a refusal"] = bool(title.strip()) and (
            "do not say" not in title.lower()
        )
        answer = page.locator("#response-content-container").last.inner_text()
        results["answer"] = answer.replace("\n", " ")[:300]
        results["answer names the date"] = "12 March 2024" in answer
        page.screenshot(path=SHOTS / "03-answer-with-sources.png", full_page=True)

        link = page.get_by_role("link", name=re.compile(r"pumps\.pdf, p\. 2")).first
        href = link.get_attribute("href") or ""
        results["source link"] = href[:60] + "..."
        results["source names the file and page"] = link.inner_text().strip() == "pumps.pdf, p. 2"
        if source_window:
            page.get_by_text(re.compile(r"^\d+ Sources?$")).first.click()
            page.wait_for_timeout(1500)
            page.screenshot(path=SHOTS / "05-sources-opened.png")
            # The sources open under the answer; each opens its window with the quote.
            listed = page.locator("button", has_text=re.compile(r"^\s*1\s*pumps\.pdf, p\. 2"))
            if not listed.count():
                (SHOTS / "sources-dom.txt").write_text(page.content())
            listed.first.click()
            page.wait_for_timeout(1500)
            window = page.locator("[role=dialog], .modal")
            results["source window shows the quote"] = window.count() > 0 and (
                "12 March 2024" in window.first.inner_text()
            )
            page.screenshot(path=SHOTS / "06-source-window.png")
            page.keyboard.press("Escape")
        cited = browser.new_page(viewport={"width": 1000, "height": 900})
        cited.goto(href)
        marked = cited.locator("mark").inner_text()
        results["cited page marks the quote"] = "12 March 2024" in marked
        cited.screenshot(path=SHOTS / "04-cited-page.png")
        browser.close()
    return results


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


if __name__ == "__main__":
    main()
