"""Hostile uploads against a running server (`mmstack up`, embedded LLM off): 20 at once,
each one of the worst cases issue 14 found, while another team searches.

- a PNG as large as `media.max_image_pixels` lets through, a few hundred KB, in RGBA (issue
  14's was 9,990 x 9,990 under the limit of then; about 300 MB decoded);
- a DOCX of about 24 MB whose document.xml inflates to about 240 MB;
- an HTML page nesting 200,000 divs (2.2 MB);
- a PDF of 2,000 pages of 100,000 strokes each and no text layer (about 200 KB): each page
  takes some 20 s to render for OCR, over 10 hours in all.

Printed: the peak resident memory of the server and every process it started (parser
helpers) against the same processes idle just before, and against the budget (1.5 GB);
the other team's search latency while the uploads are taken in and ingested, against the
same searches before them (p50 and p95); what became of each file.

    .venv/bin/python -m bench.hostile_uploads [--uploads 20] [--budget-mb 1536]
        [--picture-mode RGBA] [--scale 1.0] [--idle-seconds 15]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import random
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
from PIL import Image
from tests.documents import pdf_of_strokes

from bench.common import (
    free_port,
    percentile,
    print_table,
    start_server,
    stop_server,
    wait_ready,
)
from mmstack.auth.audit import Actor
from mmstack.auth.roles import Role
from mmstack.auth.service import open_accounts
from mmstack.config.settings import MediaSettings, Settings

CACHE = Path("bench/results/hostile_uploads")
PASSWORD = "correct horse battery staple"  # a throwaway data directory


def bomb_png(variant: int, mode: str = "RGBA", scale: float = 1.0) -> bytes:
    """The largest picture the pixel limit lets through, a few hundred KB as a PNG; in
    RGBA (4 bytes a pixel decoded) by default, the costliest mode to read."""
    side = max(math.isqrt(int(MediaSettings().max_image_pixels * scale)), 16)
    picture = Image.new(mode, (side, side), "white")
    picture.putpixel((variant, variant), 0)  # each upload its own bytes (no deduplication)
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def inflating_docx(scale: float = 1.0) -> bytes:
    """A DOCX whose document.xml is about 240 MB (random words compress about 10:1)."""
    cached = CACHE / "inflating.docx"
    if scale == 1.0 and cached.exists():
        return cached.read_bytes()
    rng = random.Random(14)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
        for _ in range(300)
    ]
    paragraph_count = max(int(240_000_000 * scale) // 1000, 1)
    namespace = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(f"<w:document {namespace}><w:body>".encode())
            for _ in range(paragraph_count):
                text = " ".join(rng.choice(words) for _ in range(150))[:960]
                part.write(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>".encode())
            part.write(b"</w:body></w:document>")
    if scale == 1.0:
        CACHE.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(out.getvalue())
    return out.getvalue()


def variant_docx(docx: bytes, variant: int) -> bytes:
    out = io.BytesIO(docx)
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("docProps/custom.xml", f"<variant>{variant}</variant>")
    return out.getvalue()


def deep_html(variant: int, depth: int = 200_000) -> bytes:
    page = b"<html><body>" + b"<div>" * depth + b"deep" + b"</div>" * depth
    return page + f"<!-- {variant} -->".encode()


def tree_rss(process: psutil.Process) -> int:
    """Resident memory of a process and all its descendants."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total


class Sampler(threading.Thread):
    """The peak of `measure()` every 50 ms until stopped."""

    def __init__(self, measure: Callable[[], int]) -> None:
        super().__init__(daemon=True)
        self.measure, self.peak, self.done = measure, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.measure())
            time.sleep(0.05)


def searches(client: httpx.Client, key: str, until: threading.Event) -> list[float]:
    """Another team's searches, one after another, until `until` is set."""
    times = []
    while not until.is_set():
        started = time.perf_counter()
        response = client.post(
            "/api/search",
            json={"query": "where do the otters sleep", "top_k": 5},
            headers={"Authorization": f"Bearer {key}"},
        )
        response.raise_for_status()
        times.append(time.perf_counter() - started)
        time.sleep(0.1)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--budget-mb", type=int, default=1536)
    parser.add_argument("--picture-mode", default="RGBA", help="Pillow mode: RGBA, RGB, L")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="size of every worst case (smoke: 0.001)"
    )
    parser.add_argument("--idle-seconds", type=float, default=15.0, help="searches before")
    args = parser.parse_args()
    scale = args.scale
    print("making the files (the DOCX once, then cached) ...", flush=True)
    docx = inflating_docx(scale)
    strokes, pages = max(int(100_000 * scale), 1), max(int(2000 * scale), 1)
    makers: dict[str, Callable[[int], bytes]] = {
        "picture.png": lambda n: bomb_png(n, args.picture_mode, scale),
        "report.docx": lambda n: variant_docx(docx, n),
        "page.html": lambda n: deep_html(n, max(int(200_000 * scale), 1)),
        "strokes.pdf": lambda n: pdf_of_strokes(strokes, pages=pages) + f"% {n}\n".encode(),
    }
    names = list(makers)
    uploads = [names[n % len(names)] for n in range(args.uploads)]
    files_to_send = [makers[name](n) for n, name in enumerate(uploads)]
    for name in names:
        size = len(files_to_send[names.index(name)])
        print(f"  {name}: {size / 1e6:.1f} MB", flush=True)

    data_dir = Path(tempfile.mkdtemp(prefix="mmstack-bench-hostile-"))
    with open_accounts(Settings(data_dir=data_dir)) as auth:
        actor = Actor.local()
        keys = {}
        for team in ("attackers", "readers"):
            made = auth.accounts.create_team(team, actor=actor)
            user, _ = auth.accounts.create_user(
                f"{team}-user", role=Role.DEVELOPER, actor=actor, password=PASSWORD, team=made.id
            )
            keys[team] = auth.keys.create(user.id, name="bench", actor=actor)[1]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")}
    env.update(
        MMSTACK_DATA_DIR=str(data_dir),
        MMSTACK_LOG_LEVEL="WARNING",
        MMSTACK_LLM__EMBEDDED__ENABLED="false",
        MMSTACK_QUOTAS__REQUESTS_PER_MINUTE="0",
    )
    log = data_dir / "server.log"
    server = start_server([sys.executable, "-m", "mmstack", "up", "--port", str(port)], env, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            wait_ready(client, server, log)
            process = psutil.Process(server.pid)
            readers = {"Authorization": f"Bearer {keys['readers']}"}
            client.post("/api/collections", json={"name": "notes"}, headers=readers)
            client.post(
                "/api/collections/notes/files",
                files=[("files", ("otters.txt", b"Sea otters sleep holding hands."))],
                headers=readers,
            ).raise_for_status()
            time.sleep(min(5.0, args.idle_seconds))  # ingested; its models are loaded

            stop_idle = threading.Event()
            idle_timer = threading.Timer(args.idle_seconds, stop_idle.set)
            idle_timer.start()
            idle = searches(client, keys["readers"], stop_idle)
            idle_rss = tree_rss(process)

            attackers = {"Authorization": f"Bearer {keys['attackers']}"}
            client.post("/api/collections", json={"name": "drop"}, headers=attackers)
            sampler = Sampler(lambda: tree_rss(process))
            sampler.start()
            stop_busy = threading.Event()
            busy: list[float] = []
            reader = threading.Thread(
                target=lambda: busy.extend(searches(client, keys["readers"], stop_busy))
            )
            reader.start()
            upload_times: list[float] = []
            statuses: Counter[int] = Counter()

            def upload(n: int, name: str) -> None:
                started = time.perf_counter()
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as own:
                    response = own.post(
                        "/api/collections/drop/files",
                        files=[("files", (f"{n}-{name}", files_to_send[n]))],
                        headers=attackers,
                    )
                upload_times.append(time.perf_counter() - started)
                statuses[response.status_code] += 1

            threads = [
                threading.Thread(target=upload, args=(n, name)) for n, name in enumerate(uploads)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            taken_in = time.perf_counter() - started
            deadline = time.monotonic() + 1800
            files: list[dict[str, object]] = []
            while time.monotonic() < deadline:
                files = client.get("/api/collections/drop/files", headers=attackers).json()["data"]
                if files and all(f["status"] in ("completed", "failed") for f in files):
                    break
                time.sleep(1)
            ingested = time.perf_counter() - started
            stop_busy.set()
            reader.join()
            sampler.done.set()
            sampler.join()
    finally:
        stop_server(server)

    mb = 1024 * 1024
    print(f"\n{args.uploads} uploads at once ({Counter(uploads)}); HTTP statuses {dict(statuses)}")
    print(f"taken in after {taken_in:.1f} s (p50 request {percentile(upload_times, 50):.1f} s), "
          f"all ingested or refused after {ingested:.1f} s\n")  # fmt: skip
    print_table(
        ["measure", "idle", "under the uploads", "ratio"],
        [
            [
                "server + helpers, resident MB (peak)",
                f"{idle_rss / mb:.0f}",
                f"{sampler.peak / mb:.0f}",
                f"{sampler.peak / idle_rss:.2f}",
            ],
            [
                f"against the budget of {args.budget_mb} MB",
                "",
                f"{sampler.peak / mb:.0f}",
                f"{sampler.peak / (args.budget_mb * mb):.2f}",
            ],
            [
                f"other team's search p50 ms (n={len(idle)} / {len(busy)})",
                f"{percentile(idle, 50) * 1000:.0f}",
                f"{percentile(busy, 50) * 1000:.0f}",
                f"{percentile(busy, 50) / percentile(idle, 50):.2f}",
            ],
            [
                "other team's search p95 ms",
                f"{percentile(idle, 95) * 1000:.0f}",
                f"{percentile(busy, 95) * 1000:.0f}",
                f"{percentile(busy, 95) / percentile(idle, 95):.2f}",
            ],
        ],
    )
    outcomes = Counter(
        (str(f["filename"]).split("-", 1)[1], str(f["status"]), str(f.get("last_error"))[:90])
        for f in files
    )
    print()
    print_table(
        ["file", "status", "reason", "n"],
        [[name, status, reason, str(n)] for (name, status, reason), n in sorted(outcomes.items())],
    )


if __name__ == "__main__":
    main()
