"""How the hybrid search defaults were chosen, without overfitting: leave one collection out.

For each BEIR collection in ../shared/data (all but coco-mini), and for the development
half of the handbook questions (`bench/qa`, each judged relevant to the page it was
written from; never the test half), the keyword and vector
candidate lists of every judged query are taken once from the real indexes (ingested by
the real pipeline, kept in `--workdir`), with their scores. Every fusion setting of a grid
(RRF with k and weights, z-score and min-max score fusion with weights, candidates per side)
is then scored offline with the same fusion code the search service runs.

Each fold holds one collection out: the setting with the best mean nDCG@10 over the other
collections is chosen, and its nDCG@10 on the held-out collection is reported beside
keyword only, vector only and plain RRF (k=60, equal weights) on that collection. The
shipped default is the setting chosen with every collection in, and it is printed too.

    .venv/bin/python -m bench.fusion_folds [--collections adi,cisi,...] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import handbook, handbook_qa
from bench.common import bench_stack, load_beir, ndcg_at, print_table
from bench.retrieval import COLLECTIONS
from mmstack.config.settings import SearchSettings
from mmstack.index import fusion
from mmstack.index.filters import SearchFilter
from mmstack.stack import Stack
from mmstack.store.models import Chunk, StoredFile

HANDBOOK_DEV = "handbook-dev"
DEPTH = 200  # candidates taken from each side; settings use their first `candidates`
RANKED_CHUNKS = 100  # as bench.retrieval: the top 100 hits, a document at its best chunk

Scored = list[tuple[int, float]]


@dataclass(frozen=True)
class Candidates:
    """One collection: each judged query's keyword and vector candidates, and the document
    of every chunk that appears in them."""

    name: str
    keyword: dict[str, Scored]
    vector: dict[str, Scored]
    doc_of: dict[int, str]
    qrels: dict[str, dict[str, int]]


@dataclass(frozen=True)
class Setting:
    fusion: str  # "rrf", "zscore", "minmax"
    keyword_weight: float
    rrf_k: int
    candidates: int

    def label(self) -> str:
        weights = f"kw {self.keyword_weight:.1f}"
        k = f" k={self.rrf_k}" if self.fusion == "rrf" else ""
        return f"{self.fusion}{k} {weights} c={self.candidates}"


def grid() -> list[Setting]:
    weights = (0.3, 0.4, 0.5, 0.6, 0.7)
    found = [
        Setting("rrf", w, k, c)
        for w, k, c in itertools.product(weights, (5, 10, 20, 30, 60, 100), (50, 100, 200))
    ]
    found += [
        Setting(method, w, 60, c)
        for method, w, c in itertools.product(("zscore", "minmax"), weights, (50, 100, 200))
    ]
    return found


@dataclass(frozen=True)
class Collection:
    """What one fold ingests and asks: files (name -> bytes), queries and judgments, by
    document id (a file's name without its extension)."""

    files: dict[str, bytes]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_collection(name: str) -> Collection:
    if name == HANDBOOK_DEV:
        return _handbook_dev()
    beir = load_beir(name)
    files = {}
    for doc_id, (title, body) in beir.corpus.items():
        files[f"{doc_id}.txt"] = (f"{title}\n\n{body}" if title else body).encode()
    return Collection(files, beir.queries, beir.qrels)


def _handbook_dev() -> Collection:
    """The development half of the handbook questions (`bench/qa`), original and reworded,
    answerable ones: each judged relevant to the page it was written from. The test half
    is never used here."""
    book = handbook.pages()
    records = handbook_qa.load("dev")
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for part in ("original", "reworded"):
        for item in handbook_qa.items(records, part):
            if item.answerable:
                queries[item.id] = item.question
                page = next(r["page"] for r in records if r["id"] == item.base)
                qrels[item.id] = {page.removesuffix(".html"): 1}
    return Collection({p.filename: p.html for p in book}, queries, qrels)


def collect(name: str, workdir: Path) -> Candidates:
    source = load_collection(name)
    cached = workdir / f"{name}.candidates.json"
    if cached.exists():
        raw = json.loads(cached.read_text())
        return Candidates(
            name,
            {q: [(int(c), float(x)) for c, x in v] for q, v in raw["keyword"].items()},
            {q: [(int(c), float(x)) for c, x in v] for q, v in raw["vector"].items()},
            {int(k): v for k, v in raw["doc_of"].items()},
            source.qrels,
        )
    keyword: dict[str, Scored] = {}
    vector: dict[str, Scored] = {}
    with bench_stack(workdir / name) as stack:
        collection_id = ingest_files(stack, name, source.files)
        stack.vectors.optimize()
        flt = SearchFilter(collection_ids=[collection_id])
        for qid, query in source.queries.items():
            with stack.db.session() as session:
                found = stack.keywords.search(session, query, limit=DEPTH, flt=flt)
            keyword[qid] = [(h.id, h.score) for h in found]
            embedded = stack.embedder.embed_query(query)
            vector[qid] = [(h.id, h.score) for h in stack.vectors.search(embedded, limit=DEPTH)]
        ids = {c for hits in (*keyword.values(), *vector.values()) for c, _ in hits}
        with stack.db.session() as session:
            rows = session.query(Chunk.id, StoredFile.filename).join(
                StoredFile, StoredFile.id == Chunk.file_id
            )
            doc_of = {i: Path(f).stem for i, f in rows if i in ids}
    cached.write_text(json.dumps({"keyword": keyword, "vector": vector, "doc_of": doc_of}))
    return Candidates(name, keyword, vector, doc_of, source.qrels)


def ingest_files(stack: Stack, name: str, files: dict[str, bytes]) -> str:
    collection_id = stack.collections.create(name).id
    started = time.perf_counter()
    for filename, data in files.items():
        stack.intake.add_file(collection_id, filename, data)
    stack.worker.run_until_idle()
    print(f"{name}: {len(files)} files ingested in {time.perf_counter() - started:.0f} s")
    return collection_id


def ranked(setting: Setting | str, keyword: Scored, vector: Scored) -> list[int]:
    if setting == "keyword":
        return [c for c, _ in keyword]
    if setting == "vector":
        return [c for c, _ in vector]
    assert isinstance(setting, Setting)
    lists = [keyword[: setting.candidates], vector[: setting.candidates]]
    weights = [setting.keyword_weight, 1 - setting.keyword_weight]
    if setting.fusion == "rrf":
        fused = fusion.rrf([[c for c, _ in hits] for hits in lists], weights, k=setting.rrf_k)
    else:
        fused = fusion.normalized(lists, weights, method=setting.fusion)  # type: ignore[arg-type]
    return [c for c, _ in fused]


def score(setting: Setting | str, collection: Candidates) -> float:
    total = 0.0
    for qid, gains in collection.qrels.items():
        if qid not in collection.keyword:
            continue
        chunks = ranked(setting, collection.keyword[qid], collection.vector[qid])
        docs = list(dict.fromkeys(collection.doc_of[c] for c in chunks[:RANKED_CHUNKS]))
        total += ndcg_at(docs, gains)
    return total / len(collection.keyword)


def best(
    settings: Sequence[Setting], table: dict[Setting, dict[str, float]], names: Sequence[str]
) -> Setting:
    return max(settings, key=lambda s: statistics.fmean(table[s][n] for n in names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--collections", default=",".join([*COLLECTIONS, HANDBOOK_DEV]))
    parser.add_argument("--workdir", type=Path, default=Path("bench/results/fusion_folds"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    names = args.collections.split(",")
    collections = {name: collect(name, args.workdir) for name in names}
    settings = grid()
    table = {s: {n: score(s, c) for n, c in collections.items()} for s in settings}
    singles = {
        mode: {n: score(mode, c) for n, c in collections.items()} for mode in ("keyword", "vector")
    }
    plain = Setting("rrf", 0.5, 60, 200)
    defaults = SearchSettings()
    shipped = Setting(
        defaults.fusion,
        defaults.keyword_weight / (defaults.keyword_weight + defaults.vector_weight),
        defaults.rrf_k,
        defaults.candidates,
    )
    rows = []
    for held in names:
        chosen = best(settings, table, [n for n in names if n != held])
        hybrid = table[chosen][held]
        beats = hybrid > max(singles["keyword"][held], singles["vector"][held])
        rows.append(
            [
                held,
                chosen.label(),
                f"{singles['keyword'][held]:.4f}",
                f"{singles['vector'][held]:.4f}",
                f"{table[plain][held]:.4f}",
                f"{table.get(shipped, {}).get(held, float('nan')):.4f}",
                f"**{hybrid:.4f}**",
                "yes" if beats else "NO",
            ]
        )
    print(f"\n{len(settings)} settings; each fold chooses on the other collections\n")
    print_table(
        [
            "held out",
            "chosen on the others",
            "keyword",
            "vector",
            "plain RRF",
            "shipped default",
            "chosen, held out",
            "beats both",
        ],
        rows,
    )
    overall = best(settings, table, names)
    print(f"\nchosen with every collection in: {overall.label()}")
    print(f"shipped default: {shipped.label()}")
    top = sorted(settings, key=lambda s: -statistics.fmean(table[s].values()))[:10]
    print("\nthe ten best settings by mean nDCG@10 over all collections:")
    print_table(
        ["setting", "mean", *names],
        [
            [s.label(), f"{statistics.fmean(table[s].values()):.4f}"]
            + [f"{table[s][n]:.4f}" for n in names]
            for s in top
        ],
    )


if __name__ == "__main__":
    main()
