"""Grounded answers to ordinary questions over a whole book: The Debian Administrator's
Handbook (`bench/handbook.py`), every page ingested into one collection through the real
pipeline (HTML).

The questions (`bench/qa/handbook_dev.jsonl`, `bench/qa/handbook_test.jsonl`; how they were
written and who saw what: `bench/qa/README.md`) come in three parts, each scored on its own:

- original: each question as its writer asked it (two thirds answerable, one third
  on-topic but not answered anywhere in the book);
- reworded: the same questions, each in two other wordings by someone who never saw the
  book (casual, formal, synonyms, inflections, vague, imperative);
- follow-up: a next turn ("what's actually in the first one?") sent with the conversation
  so far: the original question and mmstack's own answer to it.

Scores: accuracy (an answerable question answered, every `must` group found in the text),
refusal accuracy (unanswerable ones refused), citation precision (the share of `[n]`
markers whose passage holds the supporting text). Latency: time to the first answer text
and to the whole answer, and, for every third original question, the model alone on the
same final prompt (the answer prompt with the same question and passages, sent on its own
with the prompt cache off): its time to first token and to the end of its answer.

    .venv/bin/python -m bench.handbook_qa --split dev [--parts original,reworded,followup]
        [--limit N] [--ids dev-001,...] [--set answer.top_k=5 ...]

Whether an answer goes out is decided on the model's probabilities of YES (the check over
all the passages, and the second look at the text the first fact stands on), and the
decision changes nothing the model writes. So a run with `--set
answer.answerability_threshold=0` answers everything and records both probabilities, and
`--rescore` scores its saved answers under any threshold, with or without the second look,
exactly as a run with those settings would, without running the model again:

    .venv/bin/python -m bench.handbook_qa --rescore bench/results/handbook_qa/answers-dev.jsonl
        [--thresholds 0.5,0.6,0.7]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import bench_stack, print_table
from bench.handbook import pages
from mmstack.answer import Answer, AnswerDone, AnswerService, TextDelta, prompts
from mmstack.answer.citations import markers, strip_markers
from mmstack.answer.followups import Turn
from mmstack.config.settings import AnswerSettings
from mmstack.stack import Stack

QA = Path(__file__).with_name("qa")
MODEL = "qwen2.5-1.5b-instruct-q4km"
COLLECTION = "debian-handbook"
PARTS = ("original", "reworded", "followup")


@dataclass(frozen=True)
class Item:
    """One question to ask: what it expects, and the conversation before it."""

    id: str
    part: str
    style: str
    question: str
    answerable: bool
    must: list[list[str]]
    support: list[str]
    history: tuple[Turn, ...] = ()
    base: str = ""  # the id of the original question (follow-ups, rewordings)


@dataclass
class Outcome:
    item: Item
    answer: Answer
    correct: bool
    cited: int
    precise: int
    first_text: float
    total: float
    model_first_token: float | None = None
    model_total: float | None = None  # the model alone, the whole answer
    extra: dict[str, Any] = field(default_factory=dict)


def load(split: str) -> list[dict[str, Any]]:
    with (QA / f"handbook_{split}.jsonl").open() as handle:
        return [json.loads(line) for line in handle if line.strip()]


def items(records: Sequence[dict[str, Any]], part: str) -> list[Item]:
    found = []
    for r in records:
        if part == "original":
            found.append(
                Item(r["id"], part, "original", r["question"], r["answerable"], r["must"],
                     r["support"], base=r["id"])
            )  # fmt: skip
        elif part == "reworded":
            for n, wording in enumerate(r["rewordings"], 1):
                found.append(
                    Item(f"{r['id']}/r{n}", part, wording["style"], wording["question"],
                         r["answerable"], r["must"], r["support"], base=r["id"])
                )  # fmt: skip
    return found


def followups(records: Sequence[dict[str, Any]], answers: dict[str, Answer] | None) -> list[Item]:
    """Each follow-up after its original question and mmstack's answer to it (`answers`),
    or, without them, the set's own answer (a right one: the follow-up measured alone)."""
    found = []
    for r in records:
        for n, turn in enumerate(r.get("followups") or [], 1):
            if answers is None:
                previous_text = r["answer"]
            elif r["id"] in answers:
                previous_text = answers[r["id"]].text
            else:
                continue
            history = (Turn("user", r["question"]), Turn("assistant", previous_text))
            found.append(
                Item(f"{r['id']}/f{n}", "followup", "followup", turn["question"], True,
                     turn["must"], turn["support"], history, base=r["id"])
            )  # fmt: skip
    return found


def ingest(stack: Stack) -> str:
    book = pages()
    digest = hashlib.sha256("".join(p.filename for p in book).encode()).hexdigest()[:12]
    name = f"{COLLECTION}-{digest}"
    existing = {c.collection.name: c for c in stack.collections.list_all()}
    if name in existing and existing[name].file_counts.completed == len(book):
        return existing[name].collection.id
    collection_id = stack.collections.create(name).id
    started = time.perf_counter()
    for page in book:
        stack.intake.add_file(collection_id, page.filename, page.html)
    stack.worker.run_until_idle()
    print(f"ingested {len(book)} pages in {time.perf_counter() - started:.0f} s")
    return collection_id


def _normal(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def holds(passage: str, support: Sequence[str]) -> bool:
    """The passage holds a supporting text: all of it, or (cut at a chunk boundary) at
    least 80 % of its words in order as one run."""
    words = " ".join(_normal(passage))
    for text in support:
        wanted = _normal(text)
        if not wanted:
            continue
        if " ".join(wanted) in words:
            return True
        run = max(8, int(len(wanted) * 0.8))
        for start in range(0, len(wanted) - run + 1):
            if " ".join(wanted[start : start + run]) in words:
                return True
    return False


def grade(item: Item, answer: Answer) -> tuple[bool, int, int]:
    text = strip_markers(answer.text)
    correct = (
        item.answerable
        and not answer.refused
        and all(any(re.search(p, text, re.IGNORECASE) for p in group) for group in item.must)
    )
    cited = precise = 0
    if item.answerable and not answer.refused:
        for line in re.split(r"(?<=[.!?\n])", answer.text):
            for number in markers(line):
                cited += 1
                if 1 <= number <= len(answer.passages):
                    precise += holds(answer.passages[number - 1].text, item.support)
    return correct, cited, precise


async def ask(service: AnswerService, item: Item, collection_id: str) -> Outcome:
    started = time.perf_counter()
    first: float | None = None
    stream = await service.stream(
        item.question, history=item.history, collection_ids=[collection_id]
    )
    answer: Answer | None = None
    try:
        async for event in stream:
            if isinstance(event, TextDelta) and event.text and first is None:
                first = time.perf_counter() - started
            elif isinstance(event, AnswerDone):
                answer = event.answer
    finally:
        await stream.aclose()
    assert answer is not None
    total = time.perf_counter() - started
    correct, cited, precise = grade(item, answer)
    return Outcome(item, answer, correct, cited, precise, first or total, total)


async def model_alone(stack: Stack, answer: Answer, max_tokens: int) -> tuple[float, float]:
    """The model's own time to first token and to the end of its answer on the final answer
    prompt (the same question and passages), with the prompt cache off."""
    request = prompts.request(
        answer.model,
        answer.search_query or answer.question,
        answer.passages,
        prompts.ANSWER,
        max_tokens=max_tokens,
        temperature=0.0,
        cache_prompt=False,
    )
    started = time.perf_counter()
    first: float | None = None
    stream = await stack.llm.stream(request)
    try:
        async for chunk in stream:
            if first is None and any(c.delta.content for c in chunk.choices):
                first = time.perf_counter() - started
    finally:
        await stream.aclose()
    total = time.perf_counter() - started
    return first or total, total


def summarize(outcomes: Sequence[Outcome]) -> list[str]:
    answerable = [o for o in outcomes if o.item.answerable]
    unanswerable = [o for o in outcomes if not o.item.answerable]
    correct = sum(o.correct for o in answerable)
    refused = sum(o.answer.refused for o in unanswerable)
    cited = sum(o.cited for o in answerable)
    precise = sum(o.precise for o in answerable)
    firsts = [o.first_text for o in outcomes]
    totals = [o.total for o in outcomes]
    return [
        f"{correct / max(len(answerable), 1):.2f} ({correct}/{len(answerable)})",
        f"{refused / len(unanswerable):.2f} ({refused}/{len(unanswerable)})"
        if unanswerable
        else "-",
        f"{precise / cited:.2f} ({precise}/{cited})" if cited else "-",
        f"{statistics.median(firsts):.1f}",
        f"{statistics.median(totals):.1f}",
    ]


def latency_rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    rows = []
    for label, group in (
        ("answered", [o for o in outcomes if not o.answer.refused]),
        ("refused", [o for o in outcomes if o.answer.refused]),
    ):
        timed = [o for o in group if o.model_first_token]
        if not timed:
            continue
        ratios = [o.first_text / o.model_first_token for o in timed if o.model_first_token]
        rows.append(
            [
                label,
                str(len(timed)),
                f"{statistics.median(o.first_text for o in timed):.2f}",
                f"{statistics.median(o.model_first_token or 0 for o in timed):.2f}",
                f"{statistics.median(ratios):.2f}",
                f"{max(ratios):.2f}",
                f"{statistics.median(o.total for o in timed):.2f}",
                f"{statistics.median(o.model_total or 0 for o in timed):.2f}",
            ]
        )
    return rows


def save(path: Path, outcomes: Sequence[Outcome]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for o in outcomes:
            a = o.answer
            record = {
                "id": o.item.id,
                "part": o.item.part,
                "style": o.item.style,
                "question": o.item.question,
                "search_query": a.search_query,
                "answerable": o.item.answerable,
                "refused": a.refused,
                "refusal_reason": a.refusal_reason,
                "correct": o.correct,
                "cited": o.cited,
                "precise": o.precise,
                "p_yes": a.answerability,
                "p_confirm": a.confirmation,
                "text": a.text,
                "draft": a.draft,
                "citations": [
                    {
                        "number": c.number,
                        "heading": prompts.heading(c.number, a.passages[c.number - 1]),
                        "quote": c.quote,
                    }
                    for c in a.citations
                ],
                "passage_texts": [h.text for h in a.passages],
                "passages": [f"{h.filename}#{h.seq}" for h in a.passages],
                "first_text": round(o.first_text, 2),
                "total": round(o.total, 2),
                "model_first_token": o.model_first_token and round(o.model_first_token, 2),
                "model_total": o.model_total and round(o.model_total, 2),
            }
            handle.write(json.dumps(record) + "\n")


def goes_out(record: dict[str, Any], threshold: float, *, confirm: bool) -> bool:
    """Whether an answer saved from a threshold-0 run goes out under `threshold` (the
    service's rule: the check alone, or the mean of the check and the second look)."""
    if record["refused"]:
        return False
    first = record["p_yes"] if record["p_yes"] is not None else 1.0
    if not confirm:
        return bool(first >= threshold)
    second = record["p_confirm"] if record["p_confirm"] is not None else first
    return bool((first + second) / 2 >= threshold)


def rescore(path: Path, thresholds: Sequence[float]) -> None:
    records = [json.loads(line) for line in path.open()]
    rows = []
    for part in PARTS:
        group = [r for r in records if r["part"] == part]
        answerable = [r for r in group if r["answerable"]]
        unanswerable = [r for r in group if not r["answerable"]]
        if not group:
            continue
        for confirm, threshold in itertools.product((False, True), thresholds):
            out = [r for r in answerable if goes_out(r, threshold, confirm=confirm)]
            correct = sum(r["correct"] for r in out)
            refused = sum(not goes_out(r, threshold, confirm=confirm) for r in unanswerable)
            cited = sum(r["cited"] for r in out)
            precise = sum(r["precise"] for r in out)
            rows.append(
                [
                    part,
                    "check and second look" if confirm else "check alone",
                    f"{threshold:.2f}",
                    f"{correct / max(len(answerable), 1):.2f} ({correct}/{len(answerable)})",
                    f"{refused / len(unanswerable):.2f} ({refused}/{len(unanswerable)})"
                    if unanswerable
                    else "-",
                    f"{precise / cited:.2f} ({precise}/{cited})" if cited else "-",
                ]
            )
    print_table(
        ["part", "decision", "threshold", "accuracy", "refusal accuracy", "citation precision"],
        rows,
    )


def _settings(base: AnswerSettings, assignments: Sequence[str]) -> AnswerSettings:
    update: dict[str, Any] = {}
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        try:
            update[key.removeprefix("answer.")] = json.loads(value)
        except json.JSONDecodeError:
            update[key.removeprefix("answer.")] = value  # a plain string
    return AnswerSettings.model_validate({**base.model_dump(), **update})


async def run(
    stack: Stack,
    service: AnswerService,
    collection_id: str,
    records: Sequence[dict[str, Any]],
    parts: Sequence[str],
    *,
    time_model_every: int,
    max_answer_tokens: int,
    saved: Path,
    followup_history: str = "own",
) -> list[Outcome]:
    """Asks the questions of `parts`, saving the answers so far to `saved` after each."""
    outcomes: list[Outcome] = []
    originals: dict[str, Answer] = {}
    records_by_id = {r["id"]: r for r in records}
    try:
        for part in PARTS:
            own_history = followup_history == "own"
            needed = part == "original" and "followup" in parts and own_history
            if part not in parts and not needed:
                continue
            if part == "followup":
                todo = followups(records, originals if own_history else None)
            else:
                todo = items(records, part)
            if part not in parts:  # asked only for the follow-ups' conversations
                todo = [item for item in todo if records_by_id[item.base].get("followups")]
            for position, item in enumerate(todo, 1):
                outcome = await ask(service, item, collection_id)
                if part == "original":
                    originals[item.id] = outcome.answer
                    if time_model_every and (position - 1) % time_model_every == 0:
                        outcome.model_first_token, outcome.model_total = await model_alone(
                            stack, outcome.answer, max_answer_tokens
                        )
                if part in parts:
                    outcomes.append(outcome)
                    save(saved, outcomes)
                mark = "refused" if outcome.answer.refused else ("ok" if outcome.correct else "--")
                if not item.answerable:
                    mark = "OK-refused" if outcome.answer.refused else "ANSWERED"
                p_yes = outcome.answer.answerability
                print(
                    f"[{part} {position}/{len(todo)}] {item.id} {mark} "
                    f"({outcome.first_text:.1f}/{outcome.total:.1f} s, "
                    f"p_yes={p_yes and round(p_yes, 2)}) {outcome.answer.text[:100]!r}",
                    flush=True,
                )
    finally:
        await stack.llm.aclose()
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--ids", help="only these question ids (comma-separated)")
    parser.add_argument("--workdir", type=Path, default=Path("bench/results/handbook_qa"))
    parser.add_argument("--set", action="append", default=[], help="answer.KEY=VALUE")
    parser.add_argument(
        "--time-model-every",
        type=int,
        default=3,
        help="time the model alone on every Nth original question's final prompt (0: never)",
    )
    parser.add_argument(
        "--followup-history",
        choices=("own", "set"),
        default="own",
        help="a follow-up comes after mmstack's own answer to its question (own), or after "
        "the set's answer (set: the follow-up measured alone, the original not asked)",
    )
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--rescore", type=Path, help="score a threshold-0 run's saved answers")
    parser.add_argument("--thresholds", default="0.5,0.55,0.6,0.65,0.7")
    args = parser.parse_args()
    if args.rescore:
        rescore(args.rescore, [float(t) for t in args.thresholds.split(",")])
        return
    records = load(args.split)
    if args.ids:
        wanted = set(args.ids.split(","))
        records = [r for r in records if r["id"] in wanted]
    if args.limit:
        records = records[: args.limit]
    parts = args.parts.split(",")
    llm = {"default_model": args.model, "embedded": {"models": [args.model]}}
    with bench_stack(args.workdir / "data", llm=llm) as stack:
        collection_id = ingest(stack)
        settings = _settings(stack.settings.answer, args.set)
        service = AnswerService(stack.search, stack.llm, stack.embedder, settings)
        outcomes = asyncio.run(
            run(
                stack,
                service,
                collection_id,
                records,
                parts,
                time_model_every=args.time_model_every,
                followup_history=args.followup_history,
                max_answer_tokens=settings.max_answer_tokens,
                saved=args.workdir / f"answers-{args.split}.jsonl",
            )
        )
    print(
        f"\nsplit {args.split}: {len(records)} questions; model {args.model}; "
        + ", ".join(f"{k}={v}" for k, v in settings.model_dump().items())
        + "\n"
    )
    rows = [[part, *summarize([o for o in outcomes if o.item.part == part])] for part in parts]
    print_table(
        ["part", "accuracy", "refusal accuracy", "citation precision", "first text s (p50)",
         "whole answer s (p50)"],
        [r for r in rows if r[1]],
    )  # fmt: skip
    timing = latency_rows([o for o in outcomes if o.item.part == "original"])
    if timing:
        print(
            "\ntime to first answer text against the model's own time to first token "
            "(original questions):"
        )
        print_table(
            ["answers", "n", "first text s (p50)", "model alone, first token s (p50)",
             "ratio p50", "ratio max", "whole answer s (p50)", "model alone, whole s (p50)"],
            timing,
        )  # fmt: skip


if __name__ == "__main__":
    main()
