"""Parsing and decoding in a helper process with time and memory budgets (`sandbox.py`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image

from mmstack.config.settings import IngestSettings, Settings
from mmstack.errors import IngestError
from mmstack.ingest.parsers import ParseLimits, parse_file
from mmstack.ingest.parsers.context import Isolation, ParseContext
from mmstack.ingest.parsers.sandbox import _local
from mmstack.models.ocr import RapidTextReader
from mmstack.models.transcriber import WhisperTranscriber
from mmstack.stack import open_stack
from mmstack.store.models import FileStatus
from tests.documents import make_pdf, pdf_of_strokes
from tests.media.video_samples import talk
from tests.pictures import encode, pdf_with_scanned_page, text_image
from tests.speech import recording, session_transcriber

ISOLATED = ParseContext(isolation=Isolation(timeout_seconds=60, memory_bytes=2 * 1024**3))


def _helper_pid() -> int:
    return int(_local.helper.process.pid)


def _big_json(path: Path) -> Path:
    """About 40 MB of records: a few hundred MB to parse."""
    path.write_text("[" + ",".join(f'{{"a": "{i}"}}' for i in range(3_000_000)) + "]")
    return path


def test_a_document_parses_the_same_in_the_helper(tmp_path: Path) -> None:
    page = tmp_path / "notes.md"
    page.write_text("# Otters\n\nOtters hold hands while they sleep.\n\n- one\n- two\n")
    here = parse_file(page, filename="notes.md")
    isolated = parse_file(page, filename="notes.md", context=ISOLATED)
    assert isolated == here
    first = _helper_pid()
    parse_file(page, filename="notes.md", context=ISOLATED)
    assert _helper_pid() == first  # kept for the next file
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": ')
    with pytest.raises(IngestError, match="JSON"):
        parse_file(broken, filename="broken.json", context=ISOLATED)
    assert _helper_pid() == first  # a file's error is not the helper's


def test_a_parse_past_its_time_is_stopped(tmp_path: Path) -> None:
    deep = tmp_path / "deep.html"
    deep.write_bytes(b"<div>" * 80_000)  # tens of seconds in the tree builder
    slow = ParseContext(
        limits=ParseLimits(max_html_depth=10**6),
        isolation=Isolation(timeout_seconds=1, memory_bytes=2 * 1024**3),
    )
    with pytest.raises(IngestError, match=r"took longer than 1 s, over the limit"):
        parse_file(deep, filename="deep.html", context=slow)
    page = tmp_path / "a.txt"
    page.write_text("Still parsing after that.")
    assert parse_file(page, filename="a.txt", context=ISOLATED).elements


def test_a_parse_past_its_memory_is_stopped(tmp_path: Path) -> None:
    big = _big_json(tmp_path / "big.json")
    small = ParseContext(isolation=Isolation(timeout_seconds=60, memory_bytes=400 * 1024**2))
    with pytest.raises(IngestError, match=r"more than its memory budget of 400.0 MiB"):
        parse_file(big, filename="big.json", context=small)
    page = tmp_path / "a.txt"
    page.write_text("Still parsing after that.")
    assert parse_file(page, filename="a.txt", context=small).elements


def test_the_worker_fails_only_that_file(tmp_path: Path, settings: Settings) -> None:
    tight = settings.model_copy(
        update={
            "ingest": IngestSettings(workers=0, max_attempts=1, parse_memory_bytes=400 * 1024**2)
        }
    )
    with open_stack(tight) as stack:
        cid = stack.collections.create("c").id
        big = stack.intake.add_file(cid, "big.json", _big_json(tmp_path / "b.json").read_bytes())
        fine = stack.intake.add_file(cid, "fine.json", json.dumps([{"a": "otters"}]).encode())
        stack.worker.run_until_idle()
        failed = stack.collections.file(cid, big.collection_file.file_id)
        assert failed.status == FileStatus.FAILED
        assert "memory budget of 400.0 MiB" in (failed.last_error or "")
        done = stack.collections.file(cid, fine.collection_file.file_id)
        assert done.status == FileStatus.COMPLETED


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> WhisperTranscriber:
    return session_transcriber(tmp_path_factory)


def _media(kind: str, folder: Path) -> tuple[Path, str]:
    match kind:
        case "pdf":
            return pdf_with_scanned_page(folder / "log.pdf"), "log.pdf"
        case "picture":
            sign = text_image(["Platform 4: trains to Lisbon"], mode="RGBA")
            (folder / "sign.png").write_bytes(encode(sign, "PNG"))
            return folder / "sign.png", "sign.png"
        case "recording":
            recording(folder / "note.wav", [0.5, "Lunch will be served in the garden."])
            return folder / "note.wav", "note.wav"
        case _:
            return talk(folder / "talk.mp4"), "talk.mp4"


@pytest.mark.parametrize("kind", ["pdf", "picture", "recording", "video"])
def test_media_decode_the_same_in_the_helper(
    kind: str, text_reader: RapidTextReader, whisper: WhisperTranscriber, tmp_path: Path
) -> None:
    path, name = _media(kind, tmp_path)
    here_shares: list[float] = []
    here = ParseContext(ocr=text_reader, transcriber=whisper, progress=here_shares.append)
    shares: list[float] = []
    isolated = ParseContext(
        ocr=text_reader, transcriber=whisper, progress=shares.append, isolation=ISOLATED.isolation
    )
    document = parse_file(path, filename=name, context=isolated)
    assert document == parse_file(path, filename=name, context=here)
    assert document.elements
    assert shares == here_shares


def _warm(tmp_path: Path, context: ParseContext) -> None:
    """Start this thread's helper with PDFium loaded, so a budget times only the page."""
    (tmp_path / "warm.pdf").write_bytes(make_pdf(["A page with a text layer to read."]))
    assert parse_file(tmp_path / "warm.pdf", filename="warm.pdf", context=context).elements


def test_a_pdf_past_its_time_is_stopped(text_reader: RapidTextReader, tmp_path: Path) -> None:
    context = ParseContext(
        ocr=text_reader, isolation=Isolation(timeout_seconds=2, memory_bytes=2 * 1024**3)
    )
    _warm(tmp_path, context)
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(pdf_of_strokes(100_000))  # about 20 s to render
    assert slow.stat().st_size < 30_000
    started = time.monotonic()
    with pytest.raises(IngestError, match=r"took longer than 2 s, over the limit"):
        parse_file(slow, filename="slow.pdf", context=context)
    assert time.monotonic() - started < 10
    _warm(tmp_path, context)  # a fresh helper


def test_all_the_pages_of_a_pdf_share_its_time(
    text_reader: RapidTextReader, tmp_path: Path
) -> None:
    many = tmp_path / "many.pdf"
    many.write_bytes(pdf_of_strokes(12_000, pages=2000))
    assert many.stat().st_size < 300_000  # 2,000 pages of about 2 s each: over an hour
    context = ParseContext(
        ocr=text_reader,
        isolation=Isolation(timeout_seconds=2, memory_bytes=2 * 1024**3, seconds_per_mib=4),
    )
    _warm(tmp_path, context)
    started = time.monotonic()
    with pytest.raises(
        IngestError,
        match=r"took longer than 2.[5-9]\d* s, over the limit "
        r"\(2 s \(ingest.parse_timeout_seconds\) \+ 4 s per MiB",
    ):
        parse_file(many, filename="many.pdf", context=context)
    assert time.monotonic() - started < 30  # OCR of the pages rendered is not counted


def test_a_picture_past_the_memory_budget_is_stopped(tmp_path: Path) -> None:
    small = ParseContext(isolation=Isolation(timeout_seconds=60, memory_bytes=400 * 1024**2))
    big = tmp_path / "big.png"
    Image.new("RGB", (8000, 8000), "white").save(big)  # 64 MP: 256 MB decoded
    with pytest.raises(IngestError, match=r"more than its memory budget of 400.0 MiB"):
        parse_file(big, filename="big.png", context=small)
    fine = tmp_path / "fine.png"
    Image.new("RGB", (300, 200), "white").save(fine)
    assert parse_file(fine, filename="fine.png", context=small).elements
