# Longer than 400 lines: one benchmark (the shape's processes, the model-alone baseline, the
# search latencies) whose parts only make sense together.
"""Ingestion throughput and search latency of the scale-out shape on one machine.

One API process (`mmstack up`, `ingest.workers=0`) takes the uploads; 1, 2 and 4 worker
processes (`mmstack worker`, one job thread each) ingest them, all on one PostgreSQL
schema, a vector index shared over Qdrant's REST protocol (the stand-in of tests/standins:
no Qdrant server runs here), blobs in an S3 bucket on moto_server and rate limits in Redis.
Each worker count gets a fresh schema, bucket and collection, and the same corpus: files of
five scifact abstracts each (../shared/data), or generated text where that is missing.

- Ingestion: seconds from the first upload to the last file `completed` (polled through
  the API), the chunks counted in the database; chunks/s, and the speed-up over 1 worker.
  The workers are warm (each has ingested a small file first: the model is loaded).
- Baseline, at each count k: the embedding model alone (built as the stack builds it) in k
  processes at once, each embedding 1/k of the same chunk texts: aggregate chunks/s, and
  the ratio pipeline / model.
- Search (after the last count; a second API process, idle until then): p50 and p95 of
  hybrid `/api/search` requests on each API process, against the p50 of `/healthz`.

    PYTHONPATH=. .venv/bin/python -m bench.scale_out [--files 120] [--counts 1,2,4]

Needs PostgreSQL (`--pg`), Redis (`--redis`) and moto_server (installed with the dev tools).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import httpx
import psycopg
from tests.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server
from tests.standins.scale_out import Processes, free_port, qdrant_standin

from bench.common import DATA_ROOT, load_beir, percentile, print_table, stop_server
from bench.common import wait_ready as wait_http

RESULTS = Path(__file__).parent / "results"
STARTED = time.monotonic()
DOCS_PER_FILE = 5
WORDS = (
    "harbor copper meadow signal quartz ember violet saddle lantern orchard granite willow "
    "falcon canyon marble thistle beacon cinder glacier hollow juniper kestrel ledger mosaic "
    "nectar obsidian pylon quiver rampart sorrel tundra umber vessel wicker yonder zephyr"
).split()


def machine() -> tuple[float, float, float]:
    """Now: the 1-minute load average, and the CPU seconds the whole machine has spent
    busy (all cores, every process, this run's and others') since boot."""
    with open("/proc/stat") as handle:
        ticks = [int(v) for v in handle.readline().split()[1:8]]
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    return time.monotonic(), float(Path("/proc/loadavg").read_text().split()[0]), busy


def during(before: tuple[float, float, float]) -> dict[str, float]:
    """The machine over a phase: load averages at its start and end, busy cores."""
    after = machine()
    busy = (after[2] - before[2]) / (after[0] - before[0])
    return {"load_start": before[1], "load_end": after[1], "busy_cores": busy}


def note(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def corpus(files: int, searches: int) -> tuple[list[tuple[str, bytes]], list[str], str]:
    """The files (name, bytes), the search queries and where their text comes from."""
    if (DATA_ROOT / "scifact" / "corpus.jsonl").is_file():
        beir = load_beir("scifact")
        docs = [f"{title}\n\n{text}" for title, text in beir.corpus.values()]
        queries = [beir.queries[q] for q in sorted(beir.queries, key=int)]
        made = []
        for n in range(files):
            parts = [docs[(n * DOCS_PER_FILE + i) % len(docs)] for i in range(DOCS_PER_FILE)]
            made.append((f"doc{n:04d}.txt", "\n\n".join([f"File {n}.", *parts]).encode()))
        text_source = f"scifact abstracts, {DOCS_PER_FILE} a file"
    else:
        made = [(f"doc{n:04d}.txt", _generated(n)) for n in range(files)]
        rng = random.Random(0)
        queries = [" ".join(rng.sample(WORDS, 3)) for _ in range(searches)]
        text_source = "generated words (../shared/data/scifact missing)"
    return made, [queries[i % len(queries)] for i in range(searches)], text_source


def _generated(n: int) -> bytes:
    rng = random.Random(n)
    paragraphs = [" ".join(rng.choice(WORDS) for _ in range(60)).capitalize() for _ in range(20)]
    return (f"File zx{n:04d}qv.\n\n" + ".\n\n".join(paragraphs) + ".").encode()


@contextmanager
def moto_server(tmp: Path) -> Iterator[S3Server]:
    """moto_server on a free port, as the tests' `s3_server` fixture starts it."""
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    with (tmp / "moto.log").open("wb") as out:
        argv = [str(moto), "-H", "127.0.0.1", "-p", str(port)]
        process = subprocess.Popen(argv, stdout=out, stderr=out)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
            wait_http(client, process, tmp / "moto.log", path="/moto-api/", seconds=60)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        stop_server(process)


@contextmanager
def pg_schema(dsn: str) -> Iterator[str]:
    """A fresh schema, dropped afterwards: the database URL that uses it."""
    schema = f"mmstack_bench_{secrets.token_hex(6)}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        base = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def query(dsn: str, pg_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {pg_url.rpartition('search_path%3D')[2]}")
        return conn.execute(sql, params).fetchall()


JOBS_OF = (  # the jobs of the collections whose name is LIKE the parameter
    "FROM jobs j JOIN collection_files cf ON cf.id = j.collection_file_id "
    "JOIN collections c ON c.id = cf.collection_id WHERE c.name LIKE %s"
)


def _embed_child(home: str, texts: list[str], barrier: Barrier, out: Any) -> None:
    """The embedding model alone, loaded as the stack loads it: `texts` after the barrier."""
    from mmstack.config.settings import Settings
    from mmstack.stack.builders import model_registry, text_embedder

    settings = Settings(data_dir=Path(home))
    embedder = text_embedder(settings, model_registry(settings))
    embedder.embed(texts[:8] or ["warm"])
    barrier.wait()
    started = time.monotonic()
    for start in range(0, len(texts), 256):  # the ingest job's embedding batches
        embedder.embed(texts[start : start + 256])
    out.put((started, time.monotonic()))


def model_alone(home: Path, texts: list[str], processes: int) -> float:
    """Aggregate chunks/s of the model alone in `processes` processes at once."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(processes + 1), ctx.Queue()
    children = [
        ctx.Process(target=_embed_child, args=(str(home), texts[i::processes], barrier, out))
        for i in range(processes)
    ]
    try:
        for child in children:
            child.start()
        barrier.wait(timeout=600)
        spans: list[tuple[float, float]] = [out.get(timeout=3600) for _ in children]
    finally:
        for child in children:
            child.join(10)
            if child.is_alive():
                child.kill()
                child.join()
    return len(texts) / (max(end for _, end in spans) - min(start for start, _ in spans))


class Shape:
    """The API and worker processes of one worker count, on its own schema and bucket."""

    def __init__(self, work: Path, env: dict[str, str], models: Path) -> None:
        self.work, self.models = work, models
        self.processes = Processes(work, env)

    def start(self, name: str, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        (self.work / name).mkdir(parents=True)
        (self.work / name / "models").symlink_to(self.models)  # the model, quantized once
        return self.processes.start(name, *args, **extra)

    def apis(self, names: list[str]) -> dict[str, str]:
        """API processes started at once, when ready: their base URLs."""
        bases = {}
        for name in names:
            port = free_port()
            self.start(name, "up", "--port", str(port), MMSTACK_INGEST__WORKERS="0")
            bases[name] = f"http://127.0.0.1:{port}"
        for name, base in bases.items():
            with httpx.Client(base_url=base, timeout=5) as client:
                wait_http(client, self.processes.running[name], self.work / f"{name}.log")
        return bases

    def start_workers(self, count: int) -> list[str]:
        names = [f"worker{n + 1}" for n in range(count)]
        for name in names:
            self.start(name, "worker", MMSTACK_INGEST__WORKERS="1")
        return names

    def wait_workers(self, names: list[str]) -> None:
        deadline = time.monotonic() + 180
        while not all("consuming jobs" in self.processes.log(name) for name in names):
            for name in names:
                if self.processes.running[name].poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.processes.log(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start in 180 s")
            time.sleep(0.2)


def upload_and_wait(
    client: httpx.Client, collection: str, files: list[tuple[str, bytes]], per_upload: int
) -> float:
    """Seconds from the first upload to the last file completed."""
    made = client.post("/api/collections", json={"name": collection})
    if made.status_code not in (200, 201):
        raise RuntimeError(made.text)
    path = f"/api/collections/{collection}/files"
    started = time.monotonic()
    for start in range(0, len(files), per_upload):
        batch = [
            ("files", (n, data, "text/plain")) for n, data in files[start : start + per_upload]
        ]
        sent = client.post(path, files=batch, timeout=300)
        if sent.status_code not in (200, 201):
            raise RuntimeError(sent.text)
    polls = 0
    while True:
        done = client.get(path, params={"status": "completed"}).json()["data"]
        if len(done) == len(files):
            return time.monotonic() - started
        polls += 1
        if polls % 4 == 0 and client.get(path, params={"status": "failed"}).json()["data"]:
            raise RuntimeError(f"a file of {collection} failed")
        if time.monotonic() - started > 3600:
            raise RuntimeError(f"{collection}: {len(done)} of {len(files)} files in an hour")
        time.sleep(0.5)  # a listing of every file each time: not too often


def warm_up(client: httpx.Client, workers: int, batch: int, seen: Callable[[], int]) -> None:
    """Until every worker has ingested a file (its model loaded): tiny files, `batch` each."""
    for attempt in range(8):
        files = [
            (f"warm{attempt}-{n}.txt", f"Warm-up {attempt} {n}: harbor copper.".encode())
            for n in range(batch * workers)
        ]
        upload_and_wait(client, f"warmup{attempt}", files, len(files))
        if seen() >= workers:
            return
    raise RuntimeError("some worker took no warm-up file in eight rounds")


def search_latency(
    bases: dict[str, str], headers: dict[str, str], queries: list[str]
) -> dict[str, dict[str, float]]:
    """Per API process: `/healthz` and hybrid search round trips (ms), interleaved."""
    clients = {name: httpx.Client(base_url=base, timeout=60) for name, base in bases.items()}
    times: dict[str, dict[str, list[float]]] = {n: {"healthz": [], "search": []} for n in bases}

    def once(name: str, q: str) -> tuple[float, float]:
        client = clients[name]
        t0 = time.perf_counter()
        client.get("/healthz").raise_for_status()
        t1 = time.perf_counter()
        body = {"query": q, "mode": "hybrid", "top_k": 10}
        found = client.post("/api/search", json=body, headers=headers)
        t2 = time.perf_counter()
        if found.status_code != 200 or not found.json()["data"]:
            raise RuntimeError(f"search on {name}: {found.status_code} {found.text[:300]}")
        return (t1 - t0) * 1000, (t2 - t1) * 1000

    try:
        for name in bases:  # warm: the query model, the keyword side, the connections
            for q in queries[:10]:
                once(name, q)
        for q in queries:
            for name in bases:
                health, search = once(name, q)
                times[name]["healthz"].append(health)
                times[name]["search"].append(search)
    finally:
        for client in clients.values():
            client.close()
    return {
        name: {
            "healthz_p50_ms": percentile(t["healthz"], 50),
            "search_p50_ms": percentile(t["search"], 50),
            "search_p95_ms": percentile(t["search"], 95),
        }
        for name, t in times.items()
    }


@dataclass
class Run:
    """What every worker count shares: options, servers, corpus, the model's home."""

    args: argparse.Namespace
    tmp: Path
    s3: S3Server
    qdrant: tuple[str, str]
    files: list[tuple[str, bytes]]
    queries: list[str]

    @property
    def home(self) -> Path:
        return self.tmp / "model-home"


def run_count(workers: int, run: Run) -> dict[str, Any]:
    """One worker count on a fresh schema, bucket and collection: its measures."""
    from mmstack.auth.audit import Actor
    from mmstack.auth.service import open_accounts
    from mmstack.config.settings import AuthSettings, Settings

    args, files, qdrant = run.args, run.files, run.qdrant
    work = run.tmp / f"workers-{workers}"
    work.mkdir()
    with ExitStack() as cleanup:
        pg_url = cleanup.enter_context(pg_schema(args.pg))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")} | {
            "MMSTACK_DATABASE_URL": pg_url,
            "MMSTACK_VECTOR__BACKEND": "qdrant",
            "MMSTACK_VECTOR__QDRANT_URL": qdrant[0],
            "MMSTACK_VECTOR__QDRANT_API_KEY": qdrant[1],
            "MMSTACK_VECTOR__QDRANT_COLLECTION": f"scale_out_{workers}_{secrets.token_hex(4)}",
            "MMSTACK_BLOBS__BACKEND": "s3",
            "MMSTACK_BLOBS__ENDPOINT_URL": run.s3.url,
            "MMSTACK_BLOBS__BUCKET": run.s3.new_bucket(),
            "MMSTACK_BLOBS__ACCESS_KEY_ID": ACCESS_KEY_ID,
            "MMSTACK_BLOBS__SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "MMSTACK_QUOTAS__REDIS_URL": f"{args.redis}/{secrets.randbelow(15) + 1}",
            "MMSTACK_AUTH__TOKEN_SECRET": secrets.token_hex(32),
            "MMSTACK_AUTH__DATA_KEY": secrets.token_hex(32),
            "MMSTACK_LLM__EMBEDDED__ENABLED": "false",
            "MMSTACK_INGEST__BATCH_FILES": str(args.batch_files),
        }
        admin = Settings(
            data_dir=work / "admin",
            database_url=pg_url,
            auth=AuthSettings(initial_admin_password=secrets.token_urlsafe(18)),
        )
        with open_accounts(admin) as auth:
            user = next(u for u in auth.accounts.list_users() if u.role == "admin")
            _, key = auth.keys.create(user.id, name="scale-out", actor=Actor.local())
        headers = {"Authorization": f"Bearer {key}"}
        shape = Shape(work, env, run.home / "models")
        cleanup.callback(shape.processes.stop_all)
        last = workers == args.counts[-1]
        names = shape.start_workers(workers)  # they start while the API processes do
        # The second API process, for the searches after the last count, starts now (idle
        # during the ingestion: all its uploads and polls go to api1).
        bases = shape.apis(["api1", "api2"] if last else ["api1"])
        shape.wait_workers(names)

        def warmed() -> int:
            sql = f"SELECT COUNT(DISTINCT j.worker) {JOBS_OF}"
            return int(query(args.pg, pg_url, sql, "warmup%")[0][0])

        with httpx.Client(base_url=bases["api1"], headers=headers, timeout=60) as client:
            note(f"{workers} worker(s) started")
            warm_up(client, workers, args.batch_files, warmed)
            note("warm")
            before = machine()
            seconds = upload_and_wait(client, "corpus", files, args.per_upload)
            ingesting = during(before)
            note(f"ingested in {seconds:.1f} s")
        texts = [
            row[0]
            for row in query(
                args.pg,
                pg_url,
                "SELECT ch.text FROM chunks ch JOIN collections c ON c.id = ch.collection_id "
                "WHERE c.name = %s ORDER BY ch.collection_file_id, ch.seq",
                "corpus",
            )
        ]
        sql = f"SELECT j.worker, COUNT(*) {JOBS_OF} GROUP BY 1"
        shares = query(args.pg, pg_url, sql, "corpus")
        for name in names:  # the model alone runs on a machine the workers have left
            shape.processes.running[name].send_signal(signal.SIGTERM)
        for name in names:
            stop_server(shape.processes.running[name])
        before = machine()
        raw = model_alone(run.home, texts, workers)
        embedding = during(before)
        note(f"the model alone: {raw:.2f} chunks/s")
        result: dict[str, Any] = {
            "workers": workers,
            "files": len(files),
            "chunks": len(texts),
            "seconds": seconds,
            "chunks_per_s": len(texts) / seconds,
            "model_alone_chunks_per_s": raw,
            "files_per_worker": sorted((n for _, n in shares), reverse=True),
            "machine": {"ingestion": ingesting, "model_alone": embedding},
        }
        if last:
            result["search"] = search_latency(bases, headers, run.queries)
            note("searched")
        return result


def table(results: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    first = results[0]
    rows = []
    for r in results:
        k, rate, raw = r["workers"], r["chunks_per_s"], r["model_alone_chunks_per_s"]
        rows.append(
            (
                f"{k} worker process{'es' if k > 1 else ''}: whole pipeline",
                f"{rate:.2f} chunks/s ({r['seconds']:.1f} s)",
                f"{rate / first['chunks_per_s']:.2f}",
                f"{rate / raw:.2f} of the model alone",
            )
        )
        rows.append(
            (
                f"  model alone, {k} process{'es' if k > 1 else ''} (baseline)",
                f"{raw:.2f} chunks/s",
                f"{raw / first['model_alone_chunks_per_s']:.2f}",
                "1.00",
            )
        )
    for name, s in results[-1].get("search", {}).items():
        health = s["healthz_p50_ms"]
        p50, p95 = s["search_p50_ms"], s["search_p95_ms"]
        rows.append((f"{name}: GET /healthz p50 (baseline)", f"{health:.2f} ms", "", "1.00"))
        rows.append(
            (
                f"{name}: hybrid /api/search p50 / p95",
                f"{p50:.2f} / {p95:.2f} ms",
                "",
                f"{p50 / health:.1f} / {p95 / health:.1f}",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--counts", default="1,2,4", help="worker process counts, in order")
    parser.add_argument("--searches", type=int, default=50, help="hybrid searches per API")
    parser.add_argument("--per-upload", type=int, default=10, help="files per upload request")
    parser.add_argument(
        "--batch-files", type=int, default=8, help="ingest.batch_files: files a worker claims"
    )
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data")
    args = parser.parse_args()
    args.counts = [int(c) for c in args.counts.split(",")]
    for name in [n for n in os.environ if n.startswith("MMSTACK_")]:
        del os.environ[name]  # the settings come from this script alone
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    files, queries, text_source = corpus(args.files, args.searches)
    tmp = Path(tempfile.mkdtemp(prefix="mmstack-bench-scale-out-"))
    results = []
    try:
        with ExitStack() as servers:
            pool = servers.enter_context(ThreadPoolExecutor(1))
            # The model loaded once, while the servers start: its quantized copy is made.
            prepared = pool.submit(model_alone, tmp / "model-home", ["warm"], 1)
            s3 = servers.enter_context(moto_server(tmp))
            qdrant = servers.enter_context(qdrant_standin(tmp))
            run = Run(args, tmp, s3, qdrant, files, queries)
            prepared.result()
            note("model ready")
            for workers in args.counts:
                results.append(run_count(workers, run))
    finally:
        if args.keep:
            print(f"logs and data kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    load_end = Path("/proc/loadavg").read_text().split()[:3]
    cores = os.cpu_count() or 1
    print(
        f"{args.files} files ({text_source}), {results[0]['chunks']} chunks; "
        f"ingest.batch_files={args.batch_files}, {args.per_upload} files an upload"
    )
    print()
    columns = ["measure", "value", f"speed-up over {args.counts[0]} worker(s)", "ratio"]
    print_table(columns, table(results))
    print()
    for r in results:
        shares = "/".join(str(n) for n in r["files_per_worker"])
        phases = "; ".join(
            f"{phase.replace('_', ' ')}: {m['busy_cores']:.2f} cores busy, "
            f"load {m['load_start']:.1f} to {m['load_end']:.1f}"
            for phase, m in r["machine"].items()
        )
        print(f"{r['workers']} worker(s): files ingested by each {shares}; the machine in {phases}")
    most = max(args.counts)
    print(
        f"machine: {cores} cores"
        + (f", so {most} worker processes oversubscribe it" if most > cores else "")
        + f"; load average {' '.join(load_start)} at start, {' '.join(load_end)} at end"
    )
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "text": text_source,
        "machine": {"cores": cores, "load": [load_start, load_end]},
        "results": results,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "scale_out.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
