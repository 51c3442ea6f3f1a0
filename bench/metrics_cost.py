"""What the metrics cost a search: p50 and p95 of `POST /api/search` through the whole HTTP
stack (the app in-process, its middleware included) with the per-request metrics recorded
and not, in alternating blocks of the same run so that drift falls on both sides equally.
Issue 20's target: p50 at most 3 % apart.

    PYTHONPATH=. .venv/bin/python -m bench.metrics_cost [--blocks 10] [--per-block 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from tests.api.live_server import admin_key, client_stack

from bench.common import percentile, print_table
from mmstack import metrics
from mmstack.api.app import create_app
from mmstack.config.settings import (
    EmbeddedLlmSettings,
    IngestSettings,
    LlmSettings,
    QuotaSettings,
    Settings,
)

QUERIES = ("lighthouse tides", "ferry schedule", "harbour crane", "night watch", "storm log")


def corpus() -> dict[str, bytes]:
    topics = ("lighthouse", "ferry", "harbour", "storm", "tides", "crane", "night watch")
    return {
        f"note-{i:03}.txt": (
            f"Note {i}: the {topics[i % len(topics)]} log for day {i}. "
            f"The {topics[(i + 3) % len(topics)]} crew wrote it at {i % 24}:00. "
        ).encode()
        * 20
        for i in range(200)
    }


def run(blocks: int, per_block: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mmstack-metrics-cost-") as root:
        settings = Settings(
            data_dir=Path(root) / "data",
            ingest=IngestSettings(workers=1),
            llm=LlmSettings(embedded=EmbeddedLlmSettings(enabled=False)),
            quotas=QuotaSettings(requests_per_minute=0),  # thousands of searches a minute
        )
        with TestClient(create_app(settings)) as client:
            client.headers["Authorization"] = f"Bearer {admin_key(client_stack(client))}"
            stack = client_stack(client)
            cid = stack.collections.create("notes").collection.id
            for name, data in corpus().items():
                stack.intake.add_file(cid, name, data)
            while stack.collections.list_all()[0].file_counts.completed < len(corpus()):
                time.sleep(0.2)
            for query in QUERIES * 4:  # warm: models, caches
                client.post("/api/search", json={"query": query})
            timings: dict[bool, list[float]] = {True: [], False: []}
            for block in range(blocks * 2):
                on = block % 2 == 0
                metrics.set_recording(on)
                for i in range(per_block):
                    started = time.perf_counter()
                    answer = client.post("/api/search", json={"query": QUERIES[i % len(QUERIES)]})
                    timings[on].append(time.perf_counter() - started)
                    answer.raise_for_status()
            metrics.set_recording(True)
    off_p50 = statistics.median(timings[False])
    rows = []
    for on in (False, True):
        values = timings[on]
        p50 = statistics.median(values)
        rows.append(
            (
                "on" if on else "off (baseline)",
                len(values),
                f"{p50 * 1000:.2f}",
                f"{percentile(values, 95) * 1000:.2f}",
                f"{p50 / off_p50:.3f}",
            )
        )
    print_table(["metrics", "searches", "p50 ms", "p95 ms", "p50 / off"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=10, help="Blocks of each (alternating)")
    parser.add_argument("--per-block", type=int, default=100, help="Searches per block")
    args = parser.parse_args()
    run(args.blocks, args.per_block)


if __name__ == "__main__":
    main()
