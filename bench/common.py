"""Helpers shared by the benchmarks: BEIR collections, metrics, a throwaway stack."""

from __future__ import annotations

import json
import math
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from mmstack.stack import Stack

DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass
class BeirCollection:
    name: str
    corpus: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> gain


def load_beir(name: str, root: Path = DATA_ROOT) -> BeirCollection:
    folder = root / name
    corpus = {}
    with (folder / "corpus.jsonl").open() as handle:
        for line in handle:
            doc = json.loads(line)
            corpus[str(doc["_id"])] = (doc.get("title") or "", doc.get("text") or "")
    queries = {}
    with (folder / "queries.jsonl").open() as handle:
        for line in handle:
            q = json.loads(line)
            queries[str(q["_id"])] = q["text"]
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels.tsv").open() as handle:
        next(handle)
        for line in handle:
            qid, did, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, {})[did] = int(score)
    queries = {q: t for q, t in queries.items() if q in qrels}
    return BeirCollection(name, corpus, queries, qrels)


def ndcg_at(ranked: Sequence[str], gains: dict[str, int], k: int = 10) -> float:
    """trec_eval's ndcg_cut: linear gains, log2 discount, ideal from every judged document."""
    dcg = sum(gains.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], gains: dict[str, int], k: int = 100) -> float:
    relevant = {d for d, g in gains.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@contextmanager
def bench_stack(data_dir: Path, **settings: Any) -> Iterator[Stack]:
    # Imported here: a bench that only starts processes stays small (fork copies it).
    from mmstack.config.settings import Settings
    from mmstack.stack import open_stack

    config = {"data_dir": data_dir, **settings}
    config.setdefault("ingest", {"workers": 0})
    with open_stack(Settings(**config)) as stack:
        yield stack


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(columns)]
    line = " | ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A server process (`mmstack up`, or a bench's own), its output into `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)


def wait_ready(
    client: httpx.Client,
    process: subprocess.Popen[bytes],
    log: Path,
    *,
    path: str = "/readyz",
    seconds: float = 180,
) -> None:
    """Until `path` answers 200 (mmstack's readiness by default; another server's own)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if client.get(path).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready: {log.read_text(errors='replace')[-2000:]}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
