"""Retrieval quality on the BEIR collections in ../shared/data (all but coco-mini):
nDCG@10 and Recall@100 for keyword-only, vector-only and hybrid search, with the default
settings (one setting for every collection), through the real ingestion pipeline.

    .venv/bin/python -m bench.retrieval [--collections scifact,adi] [--out bench/results]
        [--compare-query-models]

`--compare-query-models` also ranks every query with the embedding model itself on the
same index (`embedding.query_model=same`) beside the default quantized query model, and
prints both.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.common import bench_stack, load_beir, ndcg_at, print_table, recall_at
from mmstack.config.settings import Settings
from mmstack.index.filters import SearchFilter
from mmstack.index.search import SearchService
from mmstack.models.catalog import load_onnx_embedder
from mmstack.stack import Stack

COLLECTIONS = ["adi", "cisi", "cranfield", "med", "scifact"]
MODES = ("keyword", "vector", "hybrid")


def ingest_corpus(stack: Stack, name: str, corpus: dict[str, tuple[str, str]]) -> str:
    collection_id = stack.collections.create(name).id
    started = time.perf_counter()
    for doc_id, (title, body) in corpus.items():
        text = f"{title}\n\n{body}" if title else body
        stack.intake.add_file(collection_id, f"{doc_id}.txt", text.encode())
    stack.worker.run_until_idle()
    failed = [m for m in stack.collections.files(collection_id) if m.status != "completed"]
    if failed:
        print(f"  {len(failed)} documents not ingested, e.g. {failed[0].last_error}")
    print(f"{name}: {len(corpus)} docs ingested in {time.perf_counter() - started:.0f} s")
    return collection_id


def ranked_docs(search: SearchService, collection_id: str, query: str, mode: str) -> list[str]:
    hits = search.search(
        query,
        mode=mode,  # type: ignore[arg-type]
        top_k=100,
        flt=SearchFilter(collection_ids=[collection_id]),
    )
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(hit.filename.removesuffix(".txt"), None)
    return list(seen)


def evaluate(
    name: str, workdir: Path, database_url: str | None, *, compare_query_models: bool = False
) -> dict[str, dict[str, float]]:
    beir = load_beir(name)
    scores: dict[str, dict[str, float]] = {}
    with bench_stack(workdir / name, database_url=database_url) as stack:
        collection_id = ingest_corpus(stack, name, beir.corpus)
        stack.vectors.optimize()
        searches = {"": stack.search}
        if compare_query_models:
            searches[" (query model: same)"] = _plain_query_search(stack)
        for label, search in searches.items():
            for mode in MODES if not label else MODES[1:]:
                ndcg = recall = 0.0
                for qid, query in beir.queries.items():
                    ranked = ranked_docs(search, collection_id, query, mode)
                    ndcg += ndcg_at(ranked, beir.qrels[qid])
                    recall += recall_at(ranked, beir.qrels[qid])
                n = len(beir.queries)
                scores[mode + label] = {"ndcg@10": ndcg / n, "recall@100": recall / n}
            if label:
                search.close()
    return scores


def _plain_query_search(stack: Stack) -> SearchService:
    """Search on the same index with queries embedded by the model itself."""
    settings = stack.settings.embedding
    spec = stack.models.spec(settings.model)
    plain = load_onnx_embedder(
        spec,
        stack.models.paths(settings.model),
        max_tokens=settings.max_tokens,
        batch_size=settings.batch_size,
        threads=settings.threads,
    )
    return SearchService(stack.db, plain, stack.vectors, stack.keywords, stack.settings.search)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--collections", default=",".join(COLLECTIONS))
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument(
        "--database-url",
        help="run on this database instead of SQLite (an empty PostgreSQL schema, say)",
    )
    parser.add_argument("--compare-query-models", action="store_true")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="mmstack-bench-") as tmp:
        for name in args.collections.split(","):
            results[name] = evaluate(
                name,
                Path(tmp),
                args.database_url,
                compare_query_models=args.compare_query_models,
            )
    settings = Settings(data_dir=Path("unused"))
    search, chunking = settings.search, settings.chunking
    keyword = "PostgreSQL BM25 (english)" if args.database_url else "SQLite FTS5 BM25 (porter)"
    print(
        "\nsettings (the defaults, the same for every collection): "
        f"fusion={search.fusion} weights keyword={search.keyword_weight} "
        f"vector={search.vector_weight} candidates={search.candidates} per side; "
        f"chunks of {chunking.max_tokens} tokens (overlap {chunking.overlap_tokens}); "
        f"keyword = {keyword}; vector = {settings.embedding.model} "
        f"({settings.embedding.max_tokens} tokens); a document ranks as its best chunk\n"
    )
    rows = []
    for name, by_mode in results.items():
        best_single = max(by_mode["keyword"]["ndcg@10"], by_mode["vector"]["ndcg@10"])
        rows.append(
            [name]
            + [f"{by_mode[m]['ndcg@10']:.4f}" for m in MODES]
            + [f"{by_mode[m]['recall@100']:.4f}" for m in MODES]
            + ["yes" if by_mode["hybrid"]["ndcg@10"] > best_single else "NO"]
        )
    print_table(
        ["collection"]
        + [f"nDCG@10 {m}" for m in MODES]
        + [f"R@100 {m}" for m in MODES]
        + ["hybrid beats both"],
        rows,
    )
    if args.compare_query_models:
        label = " (query model: same)"
        print(f"\nqueries embedded by {settings.embedding.query_model} against the model itself:")
        print_table(
            ["collection"]
            + [f"nDCG@10 {m} ({q})" for m in MODES[1:] for q in ("quantized", "same")],
            [
                [name]
                + [
                    f"{by_mode[m + suffix]['ndcg@10']:.4f}"
                    for m in MODES[1:]
                    for suffix in ("", label)
                ]
                for name, by_mode in results.items()
            ],
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "retrieval.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
