"""The web console against the API it is a client of, in one run on one `mmstack up`
(embedded defaults, the bundled 1.5B model), driven in Debian's Chromium:

- first load: requests and bytes until the login form shows, and until the collections page
  shows after logging in; the time to the login form against a `/healthz` fetch from the
  same page (the baseline);
- the time from sending a question to its first answer token: shown in the page (sent from
  the chat form, seen in the answer's text by a MutationObserver) against the same question
  over the API (`POST /api/conversations/{id}/messages`, first content delta), alternated,
  each in a new conversation. Issue 16's target: the page at most 1.1x the API.

    .venv/bin/python -m bench.console [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import free_port, print_table, start_server, stop_server, wait_ready

CHROMIUM = os.environ.get("MMSTACK_BENCH_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "Bench-Console-Quokka-7391"
DOCUMENT = (
    "Staffing. The company hired forty engineers and opened an office in Lisbon to support "
    "customers in southern Europe. The Lisbon office opened in March."
)
QUESTION = "How many engineers did the company hire?"


def api_first_token(client: httpx.Client, collection: str) -> tuple[float, float]:
    """Seconds to the first content delta, and to the end, of one answer over the API."""
    conversation = client.post("/api/conversations", json={"collections": [collection]}).json()
    started = time.perf_counter()
    first = 0.0
    with client.stream(
        "POST", f"/api/conversations/{conversation['id']}/messages", json={"content": QUESTION}
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not first and line.startswith("data: {"):
                chunk = json.loads(line.removeprefix("data: "))
                if any(c["delta"].get("content") for c in chunk.get("choices", [])):
                    first = time.perf_counter() - started
    return first, time.perf_counter() - started


PAGE_ASK = """async (question) => {
    window.__first = null;
    window.__done = null;
    const log = document.querySelector(".messages");
    const observer = new MutationObserver(() => {
        const answers = log.querySelectorAll("[data-testid=message-assistant] .answer-text");
        const last = answers[answers.length - 1];
        if (!window.__first && last && last.textContent.replace("▍", "").trim()) {
            window.__first = performance.now();
        }
        const busy = log.querySelector("[data-testid=message-assistant][aria-busy=true]");
        if (window.__first && !busy && !window.__done) window.__done = performance.now();
    });
    const watch = { childList: true, subtree: true, characterData: true, attributes: true };
    observer.observe(log, watch);
    const box = document.getElementById("question");
    box.value = question;
    window.__sent = performance.now();
    box.form.requestSubmit();
}"""


def page_first_token(
    page: Any, base: str, client: httpx.Client, collection: str
) -> tuple[float, float]:
    conversation = client.post("/api/conversations", json={"collections": [collection]}).json()
    page.goto(f"{base}/#/chat/{conversation['id']}")
    page.get_by_role("checkbox", name="bench", checked=True).wait_for()
    page.evaluate(PAGE_ASK, QUESTION)
    page.wait_for_function("() => window.__done", timeout=600_000)
    first, done = page.evaluate("[window.__first - window.__sent, window.__done - window.__sent]")
    return first / 1000, done / 1000


def first_load(browser: Any, base: str) -> dict[str, float]:
    context = browser.new_context()
    page = context.new_page()
    loaded: list[Any] = []
    page.on("requestfinished", lambda request: loaded.append(request))
    started = time.perf_counter()
    page.goto(base + "/")
    page.get_by_label("Username").wait_for()
    to_login = time.perf_counter() - started
    login_requests = len(loaded)
    login_bytes = sum(_bytes(r) for r in loaded)
    healthz = statistics.median(
        page.evaluate(
            """async () => { const t = performance.now(); await fetch("healthz");
                             return performance.now() - t; }"""
        )
        / 1000
        for _ in range(5)
    )
    loaded.clear()
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="bench").wait_for()
    page.wait_for_timeout(1000)  # what the page asks for after showing the list
    result = {
        "login_requests": login_requests,
        "login_bytes": login_bytes,
        "to_login_s": to_login,
        "healthz_s": healthz,
        "after_requests": len(loaded),
        "after_bytes": sum(_bytes(r) for r in loaded),
    }
    context.close()
    return result


def _bytes(request: Any) -> int:
    sizes = request.sizes()
    return int(sizes["responseBodySize"] + sizes["responseHeadersSize"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    data_dir = Path(tempfile.mkdtemp(prefix="mmstack-bench-console-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")}
    env |= {"MMSTACK_DATA_DIR": str(data_dir), "MMSTACK_AUTH__INITIAL_ADMIN_PASSWORD": PASSWORD}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = data_dir / "server.log"
    process = start_server([sys.executable, "-m", "mmstack", "up", "--port", str(port)], env, log)
    try:
        with httpx.Client(base_url=base, timeout=600) as client:
            wait_ready(client, process, log)
            token = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            collection = client.post("/api/collections", json={"name": "bench"}).json()["id"]
            client.post(
                f"/api/collections/{collection}/files",
                files=[("files", ("staffing.txt", DOCUMENT.encode()))],
            )
            while client.get(f"/api/collections/{collection}/files").json()["data"][0][
                "status"
            ] not in ("completed", "failed"):
                time.sleep(0.2)
            api_first_token(client, collection)  # the model loaded and warm for both
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                load = first_load(browser, base)
                context = browser.new_context()
                page = context.new_page()
                page.goto(base + "/")
                page.get_by_label("Username").fill("admin")
                page.get_by_label("Password", exact=True).fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                page.get_by_role("heading", name="Collections").wait_for()
                api_runs: list[tuple[float, float]] = []
                page_runs: list[tuple[float, float]] = []
                for _ in range(args.runs):
                    api_runs.append(api_first_token(client, collection))
                    page_runs.append(page_first_token(page, base, client, collection))
                browser.close()
    finally:
        stop_server(process)

    print_table(
        ["first load", "requests", "KB", "s", "ratio to /healthz from the page"],
        [
            (
                "to the login form",
                load["login_requests"],
                f"{load['login_bytes'] / 1024:.1f}",
                f"{load['to_login_s']:.3f}",
                f"{load['to_login_s'] / load['healthz_s']:.1f}",
            ),
            (
                "login to the collections page",
                load["after_requests"],
                f"{load['after_bytes'] / 1024:.1f}",
                "",
                "",
            ),
        ],
    )
    print()
    api_first = statistics.median(f for f, _ in api_runs)
    page_first = statistics.median(f for f, _ in page_runs)
    api_total = statistics.median(t for _, t in api_runs)
    page_total = statistics.median(t for _, t in page_runs)
    print_table(
        [f"question to answer (median of {args.runs})", "API s", "console s", "console / API"],
        [
            (
                "first answer token",
                f"{api_first:.2f}",
                f"{page_first:.2f}",
                f"{page_first / api_first:.2f}",
            ),
            (
                "whole answer",
                f"{api_total:.2f}",
                f"{page_total:.2f}",
                f"{page_total / api_total:.2f}",
            ),
        ],
    )


if __name__ == "__main__":
    main()
