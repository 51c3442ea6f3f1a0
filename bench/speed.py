"""Speed, as ratios against baselines measured in the same run (these machines are noisy).

1. Ingestion throughput on plain text (the whole pipeline: store, queue, parse, chunk, embed,
   write chunks and keyword rows, upsert vectors) against the embedding model alone on the
   same chunk texts. Target: ratio >= 0.7.
2. Search through the HTTP API (`mmstack up` in a separate process, keep-alive client) at
   100,000 chunks, hybrid mode, query embedding included: p50 and p95, with the HTTP round
   trip of `/healthz` and the query embedding alone as baselines. Target: p50 <= 15 ms.

    .venv/bin/python -m bench.speed [--chunks 100000] [--workdir bench/results/speed]

The 100k-chunk index is built once through the real pipeline and kept in the workdir.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.common import bench_stack, load_beir, median, percentile, print_table
from mmstack.auth.audit import Actor
from mmstack.auth.service import open_accounts
from mmstack.config.settings import Settings
from mmstack.store.models import Chunk

SENTENCE = re.compile(r"(?<=[.!?])\s+")
WARM_SECONDS = 5.0
QUERY_SETS = {
    "short queries (scifact claims)": ("scifact",),
    "long queries (cisi, cranfield, med)": ("cisi", "cranfield", "med"),
}


def corpus_texts() -> list[str]:
    texts = []
    for name in ("scifact", "cisi", "cranfield", "med", "adi"):
        for title, body in load_beir(name).corpus.values():
            texts.append(f"{title}\n\n{body}" if title else body)
    return texts


def ingestion_ratio(workdir: Path, docs: int) -> list[list[str]]:
    texts = corpus_texts()[:docs]
    target = workdir / "ingest"
    shutil.rmtree(target, ignore_errors=True)
    with bench_stack(target) as stack:
        collection = stack.collections.create("speed").id
        started = time.perf_counter()
        for n, text in enumerate(texts):
            stack.intake.add_file(collection, f"doc{n}.txt", text.encode())
        stack.worker.run_until_idle()
        pipeline_s = time.perf_counter() - started
        with stack.db.session() as session:
            chunks = list(session.scalars(select(Chunk.text)))
        started = time.perf_counter()
        stack.embedder.embed(chunks)
        embed_s = time.perf_counter() - started
    pipeline_rate, embed_rate = len(chunks) / pipeline_s, len(chunks) / embed_s
    return [
        ["ingestion, plain text", f"{len(texts)} files, {len(chunks)} chunks", ""],
        ["  embedding model alone", f"{embed_rate:.1f} chunks/s", "1.00 (baseline)"],
        ["  whole pipeline", f"{pipeline_rate:.1f} chunks/s", f"{pipeline_rate / embed_rate:.2f}"],
    ]


def build_search_index(data_dir: Path, chunks: int) -> None:
    marker = data_dir / f".built-{chunks}"
    if marker.exists():
        return
    shutil.rmtree(data_dir, ignore_errors=True)
    sentences = [s for t in corpus_texts() for s in SENTENCE.split(t) if len(s) > 20]
    random.Random(7).shuffle(sentences)
    # Small chunks (one sentence each) give 100k chunks from the ~9k documents at hand.
    per_file = 50
    with bench_stack(data_dir, chunking={"max_tokens": 48, "overlap_tokens": 0}) as stack:
        collection = stack.collections.create("big").id
        made = 0
        n = 0
        while made < chunks:
            batch = [sentences[(made + i) % len(sentences)] for i in range(per_file)]
            text = "\n\n".join(f"{s} [{n}.{i}]" for i, s in enumerate(batch))
            stack.intake.add_file(collection, f"part{n:05d}.txt", text.encode())
            made += per_file
            n += 1
        started = time.perf_counter()
        stack.worker.run_until_idle()
        print(
            f"built {stack.vectors.stats().points} chunks in {time.perf_counter() - started:.0f} s"
        )
        stack.vectors.optimize()
    marker.touch()


def bench_key(data_dir: Path) -> str:
    """An API key of the data directory's admin (made on first use), its rate limit high
    enough for the run: the key's authentication and quota check are part of each search."""
    with open_accounts(Settings(data_dir=data_dir)) as auth:
        admin = next(u for u in auth.accounts.list_users() if u.role == "admin")
        _, key = auth.keys.create(
            admin.id,
            name="bench.speed",
            actor=Actor.local(),
            quotas={"requests_per_minute": 1_000_000},
        )
    return key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


KEYWORD_RANKINGS = {
    "keyword ranking from postings in memory (default)": "true",
    "keyword ranking by FTS5 on each query": "false",
}


def search_latency(workdir: Path, chunks: int, queries: int) -> list[list[str]]:
    """Both keyword rankings in turn, each in a server of its own over the same index (the
    data directory admits one server at a time)."""
    data_dir = workdir / f"search-{chunks}"
    build_search_index(data_dir, chunks)
    query_sets = {}
    for label, names in QUERY_SETS.items():
        texts = [q for name in names for q in load_beir(name).queries.values()]
        random.Random(3).shuffle(texts)
        query_sets[label] = texts[:queries]
    everything = [q for texts in query_sets.values() for q in texts]
    rows = [[f"search over HTTP, {chunks:,} chunks, hybrid", f"{len(everything)} queries", ""]]
    first: dict[str, float] = {}
    for ranking, setting in KEYWORD_RANKINGS.items():
        health, search = _serve_and_measure(data_dir, query_sets, setting)
        base_ms = median(health)
        rows.append([f" {ranking}", "", ""])
        rows.append(["  GET /healthz round trip", f"p50 {base_ms:.2f} ms", "1.00 (baseline)"])
        for label, times in search.items():
            against_first = (
                f" ({median(times) / first[label]:.2f}x the first)" if label in first else ""
            )
            rows.append(
                [
                    f"  POST /api/search, {label}",
                    f"p50 {median(times):.2f} ms, p95 {percentile(times, 95):.2f} ms",
                    f"{median(times) / base_ms:.1f}{against_first}",
                ]
            )
            first.setdefault(label, median(times))
    with bench_stack(Path(tempfile.mkdtemp())) as stack:  # query embedding alone, same model
        for q in everything[:20]:
            stack.embedder.embed_query(q)
        embed = []
        for q in everything:
            started = time.perf_counter()
            stack.embedder.embed_query(q)
            embed.append((time.perf_counter() - started) * 1000)
    rows.append(["  query embedding alone (in-process)", f"p50 {median(embed):.2f} ms", ""])
    return rows


def _serve_and_measure(
    data_dir: Path, query_sets: dict[str, list[str]], keyword_postings: str
) -> tuple[list[float], dict[str, list[float]]]:
    """`/healthz` and `POST /api/search` round trips, alternating, against `mmstack up`."""
    api_key = bench_key(data_dir)
    port = _free_port()
    env = {
        **os.environ,
        "MMSTACK_DATA_DIR": str(data_dir),
        "MMSTACK_LOG_LEVEL": "WARNING",
        "MMSTACK_SEARCH__KEYWORD_POSTINGS": keyword_postings,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "mmstack", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {api_key}"}
        with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.2)
            # The server warms its keyword cache in the background when it starts (about a
            # second here); the measured queries start once that is done.
            time.sleep(WARM_SECONDS)
            for q in [q for texts in query_sets.values() for q in texts][:20]:
                client.post("/api/search", json={"query": q})
            health: list[float] = []
            search: dict[str, list[float]] = {label: [] for label in query_sets}
            for label, texts in query_sets.items():
                for q in texts:
                    started = time.perf_counter()
                    client.get("/healthz")
                    health.append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    response = client.post("/api/search", json={"query": q, "top_k": 10})
                    search[label].append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    return health, search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--docs", type=int, default=1500, help="files for the ingestion run")
    parser.add_argument("--queries", type=int, default=200, help="per query set")
    parser.add_argument("--workdir", type=Path, default=Path("bench/results/speed"))
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows: list[list[str]] = [] if args.skip_ingest else ingestion_ratio(args.workdir, args.docs)
    if rows:  # shown at once: the search part takes long and may fail on its own
        print_table(["measure", "value", "ratio to baseline"], rows)
    if not args.skip_search:
        rows += search_latency(args.workdir, args.chunks, args.queries)
    print()
    print_table(["measure", "value", "ratio to baseline"], rows)


if __name__ == "__main__":
    main()
