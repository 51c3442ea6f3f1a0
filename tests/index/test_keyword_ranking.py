"""BM25 on both databases: rare terms weigh more, shorter chunks win ties, repeats help
with diminishing returns. PostgreSQL's own rankings fail the first of these."""

from __future__ import annotations

from mmstack.stack import Stack

FILLER = [
    "Patients were studied over two years in the clinic.",
    "Many patients reported mild symptoms after the treatment.",
    "The clinic admitted patients from three regions.",
    "Follow-up visits for patients were scheduled monthly.",
    "Older patients needed longer hospital stays.",
]


def _ingest(stack: Stack, texts: dict[str, str]) -> None:
    collection = stack.collections.create("ranking").id
    for name, text in texts.items():
        stack.intake.add_file(collection, f"{name}.txt", text.encode())
    stack.worker.run_until_idle()


def _keyword_ranking(stack: Stack, query: str) -> list[str]:
    hits = stack.search.search(query, mode="keyword", top_k=20)
    return [h.filename.removesuffix(".txt") for h in hits]


def test_a_rare_term_outweighs_a_common_one(stack: Stack) -> None:
    texts = {f"filler{i}": text for i, text in enumerate(FILLER)}
    texts["rare"] = "Thalassemia was confirmed by electrophoresis."
    texts["common"] = "Patients and more patients, patients everywhere in the ward."
    _ingest(stack, texts)
    ranking = _keyword_ranking(stack, "thalassemia patients")
    assert ranking[0] == "rare"
    assert set(ranking) == set(texts)  # any term matches


def test_length_and_repeats(stack: Stack) -> None:
    _ingest(
        stack,
        {
            "short": "Zebra crossings.",
            "long": "Zebra crossings are painted on roads near schools, parks and markets "
            "so that people on foot can cross safely while traffic waits.",
            "twice": "Zebra crossings: a zebra pattern.",
            "none": "Traffic lights regulate junctions.",
        },
    )
    assert _keyword_ranking(stack, "zebra") == ["twice", "short", "long"]
