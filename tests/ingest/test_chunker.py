from __future__ import annotations

import pytest

from mmstack.ingest.chunker import chunk_document
from mmstack.ingest.document import Element, ElementKind, ParsedDocument
from mmstack.models.catalog import BUNDLED_MODELS, MINILM_ID, load_onnx_embedder
from mmstack.models.embedder import OnnxSentenceEmbedder
from mmstack.models.registry import ModelRegistry


@pytest.fixture(scope="module")
def counter(tmp_path_factory: pytest.TempPathFactory) -> OnnxSentenceEmbedder:
    registry = ModelRegistry(BUNDLED_MODELS, tmp_path_factory.mktemp("models"))
    return registry.load(
        MINILM_ID,
        lambda spec, paths: load_onnx_embedder(
            spec, paths, max_tokens=256, batch_size=8, threads=1
        ),
    )


def _para(text: str, page: int | None = None, path: tuple[str, ...] = ()) -> Element:
    return Element(ElementKind.PARAGRAPH, text, page=page, heading_path=path)


def test_small_document_is_one_chunk_with_offsets(counter: OnnxSentenceEmbedder) -> None:
    doc = ParsedDocument("text/plain", [_para("First paragraph."), _para("Second one.")])
    text, chunks = chunk_document(doc, counter, max_tokens=64, overlap_tokens=8)
    assert len(chunks) == 1
    assert chunks[0].text == "First paragraph.\n\nSecond one." == text
    assert (chunks[0].char_start, chunks[0].char_end) == (0, len(text))


def test_pages_and_headings_start_new_chunks(counter: OnnxSentenceEmbedder) -> None:
    doc = ParsedDocument(
        "application/pdf",
        [
            Element(ElementKind.HEADING, "Intro", page=1, heading_path=("Intro",), level=1),
            _para("Alpha text.", page=1, path=("Intro",)),
            _para("Beta text.", page=2, path=("Intro",)),
            Element(ElementKind.HEADING, "Method", page=2, heading_path=("Method",), level=1),
            _para("Gamma text.", page=2, path=("Method",)),
        ],
    )
    text, chunks = chunk_document(doc, counter, max_tokens=200, overlap_tokens=10)
    assert [c.text for c in chunks] == [
        "Intro\n\nAlpha text.",
        "Beta text.",
        "Method\n\nGamma text.",
    ]
    assert [(c.page_start, c.page_end) for c in chunks] == [(1, 1), (2, 2), (2, 2)]
    assert [c.heading_path for c in chunks] == [("Intro",), ("Intro",), ("Method",)]
    for c in chunks:
        assert text[c.char_start : c.char_end] == c.text


def test_size_limit_overlap_and_long_sentences(counter: OnnxSentenceEmbedder) -> None:
    sentences = [f"Sentence number {i} talks about topic {i}." for i in range(60)]
    long_run = " ".join(["word"] * 300)  # one "sentence" longer than a chunk
    doc = ParsedDocument("text/plain", [_para(" ".join(sentences)), _para(long_run)])
    text, chunks = chunk_document(doc, counter, max_tokens=50, overlap_tokens=12)
    assert len(chunks) > 5
    assert all(c.token_count <= 50 for c in chunks)
    for c in chunks:
        assert counter.count_tokens([c.text])[0] <= 50
        assert text[c.char_start : c.char_end] == c.text
    # Every sentence lands in some chunk, and consecutive chunks overlap.
    for s in sentences:
        assert any(s in c.text for c in chunks)
    assert any(chunks[i].char_end > chunks[i + 1].char_start for i in range(len(chunks) - 1))
    covered = sum(c.text.count("word") for c in chunks)
    assert covered >= 300


def test_timed_text_keeps_its_timeline_and_pictures_split_chunks(
    counter: OnnxSentenceEmbedder,
) -> None:
    from mmstack.ingest.document import TextSource

    def said(text: str, start: float, end: float, frame: str) -> Element:
        return Element(
            ElementKind.PARAGRAPH,
            text,
            source=TextSource.SPEECH,
            time_start=start,
            time_end=end,
            thumbnail=frame,
        )

    def shown(text: str, start: float, region: tuple[int, int, int, int]) -> Element:
        return Element(
            ElementKind.PARAGRAPH,
            text,
            source=TextSource.OCR,
            time_start=start,
            time_end=start + 10,
            thumbnail="frame-b",
            region=region,
        )

    doc = ParsedDocument(
        "video/mp4",
        [
            said("Welcome to the quarterly review.", 0.5, 3.0, "frame-a"),
            said("Revenue grew in every region.", 3.2, 6.1, "frame-a"),
            shown("Quarterly", 10.0, (10, 10, 200, 40)),
            shown("Results 2026", 10.0, (10, 50, 220, 90)),
            said("Thank you.", 12.0, 13.0, "frame-b"),
        ],
    )
    _, chunks = chunk_document(doc, counter, max_tokens=256, overlap_tokens=0)
    assert [c.text for c in chunks] == [
        "Welcome to the quarterly review.\n\nRevenue grew in every region.",
        "Quarterly\n\nResults 2026",
        "Thank you.",
    ]
    speech, slide, closing = chunks
    assert (speech.source, speech.time_start, speech.time_end) == ("speech", 0.5, 6.1)
    assert speech.timeline == ((0, 0.5, 3.0), (34, 3.2, 6.1))
    assert speech.text[34:].startswith("Revenue")
    assert speech.thumbnail == "frame-a"
    assert speech.region is None
    assert (slide.source, slide.region, slide.thumbnail) == ("ocr", (10, 10, 220, 90), "frame-b")
    assert (closing.time_start, closing.thumbnail) == (12.0, "frame-b")
