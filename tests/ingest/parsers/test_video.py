"""The video parser: slide text read by real OCR and speech heard by real Whisper, on one
timeline with a thumbnail per keyframe; the reasons a video cannot be ingested."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from mmstack.errors import IngestError
from mmstack.ingest.document import Element, ParsedDocument, TextSource
from mmstack.ingest.parsers import ParseContext, ParseLimits, parse_file
from mmstack.ingest.parsers.video import FRAMES_SHARE, parse
from mmstack.media.decoder import IN_PROCESS, Decoder
from mmstack.models.contracts import SpeechSegment, TextLine
from mmstack.models.ocr import RapidTextReader
from mmstack.models.transcriber import WhisperTranscriber
from tests.media.video_samples import Scene, slide, talk, write_video
from tests.pictures import session_text_reader
from tests.speech import session_transcriber


@pytest.fixture(scope="session")
def text_reader(tmp_path_factory: pytest.TempPathFactory) -> RapidTextReader:
    return session_text_reader(tmp_path_factory)


@pytest.fixture(scope="session")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> WhisperTranscriber:
    return session_transcriber(tmp_path_factory)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


class ScriptedTranscriber:
    """Says the same segments for any file, reporting progress as it goes."""

    def __init__(self, segments: list[SpeechSegment]) -> None:
        self.segments = segments
        self.calls = 0

    def transcribe(
        self,
        path: Path,
        *,
        progress: Callable[[float], None] | None = None,
        decoder: Decoder = IN_PROCESS,
    ) -> Iterator[SpeechSegment]:
        self.calls += 1
        for n, segment in enumerate(self.segments, 1):
            if progress is not None:
                progress(n / len(self.segments))
            yield segment


class BrokenTranscriber:
    def transcribe(
        self,
        path: Path,
        *,
        progress: Callable[[float], None] | None = None,
        decoder: Decoder = IN_PROCESS,
    ) -> Iterator[SpeechSegment]:
        raise IngestError("the audio is damaged at 3.0 s (Invalid data)")


class SameText:
    """Reads one line on every picture."""

    def __init__(self) -> None:
        self.calls = 0

    def read(self, image: Image.Image) -> list[TextLine]:
        self.calls += 1
        return [TextLine("Agenda for today", (10, 10, 200, 40), 0.99)]


def _text(document: ParsedDocument, source: TextSource) -> list[Element]:
    return [e for e in document.elements if e.source is source]


def _find(elements: list[Element], word: str) -> Element:
    return next(e for e in elements if word in e.text.lower())


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_slides_read_and_speech_heard(
    text_reader: RapidTextReader, whisper: WhisperTranscriber, videos: Path, suffix: str
) -> None:
    path = talk(videos / f"talk{suffix}")
    shares: list[float] = []
    context = ParseContext(ocr=text_reader, transcriber=whisper, progress=shares.append)
    document = parse(path, filename=f"Talk{suffix}", context=context)

    assert document.media_type == f"video/{suffix[1:]}"
    assert document.duration == pytest.approx(35.0, abs=0.1)
    meta = document.metadata
    assert (meta["width"], meta["height"], meta["fps"], meta["has_audio"]) == (320, 240, 4, True)
    assert meta["codec"] == ("h264" if suffix == ".mp4" else "vp9")
    assert meta["keyframes"] == 3

    ocr = _text(document, TextSource.OCR)
    title, word, closing = _find(ocr, "quarterly"), _find(ocr, "pelican"), _find(ocr, "thanks")
    assert word.text == "PELICAN"
    assert word.time_start == pytest.approx(20.0, abs=1.0)
    assert word.time_end == pytest.approx(30.0, abs=1.0)
    assert title.time_start == 0.0
    assert closing.time_end == pytest.approx(35.0, abs=0.1)
    assert word.region is not None
    left, top, right, bottom = word.region
    assert 0 <= left < right <= 320
    assert 0 <= top < bottom <= 240

    heard = _text(document, TextSource.SPEECH)
    said = _find(heard, "budget")
    assert "noon" in said.text.lower()
    assert said.time_start == pytest.approx(12.0, abs=3.0)
    assert said.thumbnail == title.thumbnail  # the slide on screen when it was said

    starts = [e.time_start or 0.0 for e in document.elements]
    assert starts == sorted(starts)
    assert {title.thumbnail, word.thumbnail, closing.thumbnail} == set(document.assets)
    for key, data in document.assets.items():
        assert key == hashlib.sha256(data).hexdigest()
        assert data.startswith(b"\xff\xd8\xff")  # JPEG
    assert document.thumbnail == title.thumbnail
    assert shares == sorted(shares)
    assert shares[-1] == 1.0


def test_video_without_audio_is_frames_only(text_reader: RapidTextReader, videos: Path) -> None:
    path = talk(videos / "silent.mkv", speech=False)
    transcriber = ScriptedTranscriber([SpeechSegment(1.0, 2.0, "never said")])
    context = ParseContext(ocr=text_reader, transcriber=transcriber)
    document = parse(path, filename="silent.mkv", context=context)
    assert transcriber.calls == 0
    assert document.media_type == "video/x-matroska"
    assert document.metadata["has_audio"] is False
    assert [e.source for e in document.elements] == [TextSource.OCR] * 3
    assert _find(document.elements, "pelican").time_start == pytest.approx(20.0, abs=1.0)


def test_speech_is_anchored_to_the_keyframe_on_screen(videos: Path) -> None:
    path = talk(videos / "anchors.mp4")
    said = [SpeechSegment(25.0, 27.0, "second"), SpeechSegment(5.0, 7.5, "first")]
    said.append(SpeechSegment(33.0, 34.0, "third"))
    document = parse(
        path, filename="anchors.mp4", context=ParseContext(transcriber=ScriptedTranscriber(said))
    )
    keys = list(document.assets)
    assert len(keys) == 3
    assert [(e.text, e.time_start, e.time_end, e.thumbnail) for e in document.elements] == [
        ("first", 5.0, 7.5, keys[0]),
        ("second", 25.0, 27.0, keys[1]),
        ("third", 33.0, 34.0, keys[2]),
    ]
    assert all(e.source is TextSource.SPEECH for e in document.elements)


def test_progress_weighs_frames_then_speech(videos: Path) -> None:
    path = talk(videos / "progress.mp4")
    shares: list[float] = []
    transcriber = ScriptedTranscriber([SpeechSegment(12.0, 14.0, "words")] * 4)
    parse(
        path,
        filename="p.mp4",
        context=ParseContext(transcriber=transcriber, progress=shares.append),
    )
    assert shares == sorted(shares)
    frames = [s for s in shares if s <= FRAMES_SHARE]
    assert len(frames) > 10
    assert frames[-1] == pytest.approx(FRAMES_SHARE, abs=0.02)
    assert shares[-1] == 1.0


def test_a_still_picture_is_read_once(videos: Path) -> None:
    path = write_video(videos / "still.mp4", [Scene(slide("Agenda"), 70)])
    reader = SameText()
    document = parse(path, filename="still.mp4", context=ParseContext(ocr=reader))
    assert document.metadata["keyframes"] == 3  # 0, 30 and 60 s: the maximum interval
    assert reader.calls == 1
    assert len(document.assets) == 1
    [element] = document.elements
    assert (element.text, element.time_start) == ("Agenda for today", 0.0)
    assert element.time_end == pytest.approx(70.0, abs=0.1)
    assert element.thumbnail == document.thumbnail


def test_text_read_again_on_the_next_keyframe_extends_it(videos: Path) -> None:
    path = talk(videos / "same.mp4", speech=False)
    reader = SameText()
    document = parse(path, filename="same.mp4", context=ParseContext(ocr=reader))
    assert reader.calls == 3
    assert len(document.assets) == 3
    [element] = document.elements
    assert element.time_start == 0.0
    assert element.time_end == pytest.approx(35.0, abs=0.1)
    assert element.thumbnail == document.thumbnail


def test_nothing_found_still_describes_the_video(
    text_reader: RapidTextReader, videos: Path
) -> None:
    path = write_video(
        videos / "blank.mp4", [Scene(slide(""), 6), Scene(slide("", background="gray"), 6)]
    )
    document = parse(path, filename="blank.mp4", context=ParseContext(ocr=text_reader))
    assert len(document.assets) == 2
    [element] = document.elements
    assert element.text == "Video blank.mp4, 12 s, 320 x 240 pixels, without sound."
    assert element.time_start == 0.0
    assert element.time_end == pytest.approx(12.0, abs=0.1)
    assert element.thumbnail == document.thumbnail is not None


def test_without_media_models(videos: Path) -> None:
    path = talk(videos / "plain.mp4")
    document = parse(path, filename="plain.mp4", context=ParseContext())
    [element] = document.elements
    assert element.text == "Video plain.mp4, 35 s, 320 x 240 pixels, with sound."
    assert len(document.assets) == 3
    assert "transcribed" not in document.metadata


def test_broken_sound_keeps_the_frames(videos: Path) -> None:
    path = talk(videos / "broken.mp4")
    context = ParseContext(ocr=SameText(), transcriber=BrokenTranscriber())
    document = parse(path, filename="broken.mp4", context=context)
    assert document.metadata["speech_error"].startswith("the audio is damaged")
    assert [e.source for e in document.elements] == [TextSource.OCR]


def test_truncated_video_is_noted(videos: Path, tmp_path: Path) -> None:
    data = talk(videos / "whole.mkv", speech=False).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    document = parse(cut, filename="cut.mkv", context=ParseContext(ocr=SameText()))
    assert "may be truncated" in document.metadata["warning"]
    [element] = document.elements
    assert element.time_end is not None
    assert 5.0 < element.time_end < 30.0


class ThreeParagraphs:
    def read(self, image: Image.Image) -> list[TextLine]:
        rows = ((10, 10, 150, 30), (10, 100, 150, 120), (10, 200, 150, 220))
        return [TextLine(f"Point {n}", box, 0.99) for n, box in enumerate(rows)]


def test_too_many_text_blocks(videos: Path) -> None:
    path = talk(videos / "crowded.mp4", speech=False)
    context = ParseContext(ocr=ThreeParagraphs(), limits=ParseLimits(max_elements=2))
    with pytest.raises(IngestError, match="more than 2 text blocks"):
        parse(path, filename="crowded.mp4", context=context)


def test_through_the_dispatcher(videos: Path, tmp_path: Path) -> None:
    path = talk(videos / "keynote.mov", speech=False)
    document = parse_file(path, filename="keynote.mov", context=ParseContext(ocr=SameText()))
    assert document.media_type == "video/quicktime"
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all\n" * 64)
    with pytest.raises(IngestError, match="not a video file"):
        parse_file(junk, filename="junk.mp4")
    with pytest.raises(IngestError, match=r"over the 1\.0 KiB limit"):
        parse(
            path, filename="keynote.mov", context=ParseContext(limits=ParseLimits(max_bytes=1024))
        )
