"""Grounded question answering on real documents: answer accuracy, citation precision and
refusal accuracy of `AnswerService`, against the plain pipeline (same retrieval and prompt,
every retrieved passage given to the model, no answerability check, no verification) in
the same run.

The questions (`bench/grounded_qa.jsonl`) were written from med, cranfield and scifact
documents in ../shared/data; a third cannot be answered from the documents but are close in
topic to one of them. The documents they come from, the other documents judged relevant to
the same BEIR queries (close distractors) and random documents of each collection are
ingested through the real pipeline into one collection, kept in `--workdir` for later runs.

    .venv/bin/python -m bench.grounded_qa [--limit N] [--ids med-a01,...] [--no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import DATA_ROOT, bench_stack, load_beir, print_table
from mmstack.answer import Answer, AnswerService
from mmstack.answer.citations import markers, strip_markers
from mmstack.config.settings import AnswerSettings
from mmstack.stack import Stack

QUESTIONS = Path(__file__).with_name("grounded_qa.jsonl")
# Questions on other documents, for tuning the settings without looking at the ones above.
DEV_QUESTIONS = Path(__file__).with_name("grounded_qa_dev.jsonl")
MODEL = "qwen2.5-1.5b-instruct-q4km"
RANDOM_PER_COLLECTION = 150
COLLECTION = "grounded-qa"


@dataclass(frozen=True)
class Question:
    id: str
    collection: str
    doc_id: str
    question: str
    answers: list[str]
    support: str | None
    answerable: bool


@dataclass
class Outcome:
    refused: bool
    correct: bool
    cited: int
    precise: int
    seconds: float
    answer: Answer


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    with path.open() as handle:
        return [Question(**json.loads(line)) for line in handle if line.strip()]


def corpus_for(questions: Sequence[Question]) -> dict[str, str]:
    """File name -> text: each question's document, the documents judged relevant to the
    same queries, and random documents of the same collections."""
    chosen: dict[str, str] = {}
    rng = random.Random(0)
    for name in sorted({q.collection for q in questions}):
        beir = load_beir(name, DATA_ROOT)
        wanted = {q.doc_id for q in questions if q.collection == name}
        related = {doc for gains in beir.qrels.values() if wanted & gains.keys() for doc in gains}
        pool = sorted(set(beir.corpus) - wanted - related)
        picked = wanted | related | set(rng.sample(pool, RANDOM_PER_COLLECTION))
        for doc_id in sorted(picked):
            title, body = beir.corpus[doc_id]
            text = f"{title}\n\n{body}" if title else body
            if text.strip():
                chosen[f"{name}-{doc_id}.txt"] = text
    return chosen


def ingest(stack: Stack, corpus: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(sorted(corpus)).encode()).hexdigest()[:16]
    name = f"{COLLECTION}-{digest}"
    existing = {c.collection.name: c for c in stack.collections.list_all()}
    if name in existing and existing[name].file_counts.completed == len(corpus):
        print(f"reusing the ingested collection {name} ({len(corpus)} documents)")
        return existing[name].collection.id
    collection_id = stack.collections.create(name).id
    started = time.perf_counter()
    for filename, text in corpus.items():
        stack.intake.add_file(collection_id, filename, text.encode())
    stack.worker.run_until_idle()
    print(f"ingested {len(corpus)} documents in {time.perf_counter() - started:.0f} s")
    return collection_id


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def score(question: Question, answer: Answer, seconds: float) -> Outcome:
    text = strip_markers(answer.text)
    correct = (
        question.answerable
        and not answer.refused
        and any(re.search(p, text, re.IGNORECASE) for p in question.answers)
    )
    cited = precise = 0
    if question.answerable and not answer.refused and question.support:
        support = _normal(question.support)
        # Every marker in the text counts, one that names no passage as imprecise.
        for number in _all_markers(answer.text):
            cited += 1
            if 1 <= number <= len(answer.passages):
                precise += support in _normal(answer.passages[number - 1].text)
    return Outcome(answer.refused, correct, cited, precise, seconds, answer)


def _all_markers(text: str) -> list[int]:
    found: list[int] = []
    for line in re.split(r"(?<=[.!?\n])", text):
        found += markers(line)
    return found


async def run(
    stack: Stack, collection_id: str, questions: Sequence[Question], services: dict[str, Any]
) -> dict[str, list[Outcome]]:
    results: dict[str, list[Outcome]] = {name: [] for name in services}
    try:
        for position, question in enumerate(questions, 1):
            for name, service in services.items():
                started = time.perf_counter()
                answer = await service.answer(question.question, collection_ids=[collection_id])
                outcome = score(question, answer, time.perf_counter() - started)
                results[name].append(outcome)
                mark = "refused" if outcome.refused else ("ok" if outcome.correct else "--")
                print(
                    f"[{position}/{len(questions)}] {question.id} {name}: {mark} "
                    f"({outcome.seconds:.0f} s, p_yes={answer.answerability}) "
                    f"{answer.text[:110]!r}",
                    flush=True,
                )
    finally:
        await stack.llm.aclose()
    return results


def summarize(
    questions: Sequence[Question], outcomes: Sequence[Outcome]
) -> tuple[str, str, str, str]:
    answerable = [o for q, o in zip(questions, outcomes, strict=True) if q.answerable]
    unanswerable = [o for q, o in zip(questions, outcomes, strict=True) if not q.answerable]
    accuracy = sum(o.correct for o in answerable) / max(len(answerable), 1)
    refusal = sum(o.refused for o in unanswerable) / max(len(unanswerable), 1)
    cited = sum(o.cited for o in answerable)
    precision = sum(o.precise for o in answerable) / cited if cited else 0.0
    seconds = sum(o.seconds for o in outcomes) / max(len(outcomes), 1)
    return (
        f"{accuracy:.2f} ({sum(o.correct for o in answerable)}/{len(answerable)})",
        f"{refusal:.2f} ({sum(o.refused for o in unanswerable)}/{len(unanswerable)})",
        f"{precision:.2f} ({sum(o.precise for o in answerable)}/{cited})",
        f"{seconds:.1f}",
    )


def save(path: Path, questions: Sequence[Question], results: dict[str, list[Outcome]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for name, outcomes in results.items():
            for question, outcome in zip(questions, outcomes, strict=True):
                answer = outcome.answer
                record = {
                    "pipeline": name,
                    "id": question.id,
                    "answerable": question.answerable,
                    "refused": outcome.refused,
                    "refusal_reason": answer.refusal_reason,
                    "correct": outcome.correct,
                    "cited": outcome.cited,
                    "precise": outcome.precise,
                    "p_yes": answer.answerability,
                    "text": answer.text,
                    "draft": answer.draft,
                    "passages": [h.filename for h in answer.passages],
                    "seconds": round(outcome.seconds, 2),
                }
                handle.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path("bench/results/grounded_qa"))
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--ids", help="only these question ids (comma-separated)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain pipeline")
    parser.add_argument("--dev", action="store_true", help="the tuning questions instead")
    parser.add_argument("--max-tokens", type=int, default=96, help="answer tokens")
    args = parser.parse_args()
    test, dev = load_questions(QUESTIONS), load_questions(DEV_QUESTIONS)
    corpus = corpus_for([*test, *dev])
    questions = dev if args.dev else test
    if args.ids:
        wanted = set(args.ids.split(","))
        questions = [q for q in questions if q.id in wanted]
    if args.limit:
        questions = questions[: args.limit]
    llm = {"default_model": MODEL, "embedded": {"models": [MODEL]}}
    with bench_stack(args.workdir / "data", llm=llm) as stack:
        collection_id = ingest(stack, corpus)
        verified = stack.settings.answer.model_copy(update={"max_answer_tokens": args.max_tokens})
        plain = verified.model_copy(update={"answerability_check": False, "verify": False})
        services: dict[str, AnswerService] = {
            "verified": AnswerService(stack.search, stack.llm, stack.embedder, verified)
        }
        if not args.no_baseline:
            services["plain"] = AnswerService(stack.search, stack.llm, stack.embedder, plain)
        results = asyncio.run(run(stack, collection_id, questions, services))
    save(args.workdir / "answers.jsonl", questions, results)
    embedded = stack.settings.llm.embedded
    print(
        f"\n{len(questions)} questions ({sum(q.answerable for q in questions)} answerable), "
        f"{len(corpus)} documents; model {MODEL} (context {embedded.context_size}, "
        f"threads {embedded.threads or 'all'}); {_describe(verified)}\n"
    )
    rows = [
        [name, *summarize(questions, outcomes)]
        for name, outcomes in sorted(results.items(), reverse=True)
    ]
    print_table(
        ["pipeline", "accuracy", "refusal accuracy", "citation precision", "s/question"], rows
    )


def _describe(settings: AnswerSettings) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.model_dump().items())


if __name__ == "__main__":
    main()
