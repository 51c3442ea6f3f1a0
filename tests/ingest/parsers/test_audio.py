"""The audio parser: timed speech paragraphs from Whisper, the track's metadata, and the
reasons a recording cannot be ingested."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmstack.errors import IngestError
from mmstack.ingest.document import ElementKind, TextSource
from mmstack.ingest.parsers import ParseContext, parse_file
from mmstack.ingest.parsers.audio import parse
from mmstack.models.transcriber import WhisperTranscriber
from tests.speech import encode, recording, session_transcriber, word_error_rate

SAID: list[str | float] = [
    "Our meeting starts at ten o'clock.",
    6.0,
    "Lunch will be served in the garden.",
]


@pytest.fixture(scope="session")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> WhisperTranscriber:
    return session_transcriber(tmp_path_factory)


def test_speech_paragraphs(whisper: WhisperTranscriber, tmp_path: Path) -> None:
    placed = recording(tmp_path / "meeting.wav", SAID)
    path = encode(tmp_path / "meeting.wav", ".mp3")
    shares: list[float] = []
    context = ParseContext(transcriber=whisper, progress=shares.append)
    document = parse_file(path, filename="meeting.mp3", context=context)
    assert document.media_type == "audio/mpeg"
    assert document.duration == pytest.approx(placed[-1].end, abs=0.1)
    assert document.metadata["codec"] == "mp3"
    assert document.metadata["channels"] == 1
    assert document.metadata["sample_rate"] == 22050
    said = " ".join(p.text for p in placed)
    assert word_error_rate(said, " ".join(e.text for e in document.elements)) <= 0.3
    assert document.duration is not None
    for element in document.elements:
        assert element.kind is ElementKind.PARAGRAPH
        assert element.source is TextSource.SPEECH
        assert element.time_start is not None
        assert element.time_end is not None
        assert element.time_start < element.time_end <= document.duration + 0.5
    lunch = next(e for e in document.elements if "garden" in e.text.lower())
    assert lunch.time_start == pytest.approx(placed[1].start, abs=2.0)
    assert shares == sorted(shares)
    assert shares[-1] == 1.0


def test_no_speech(whisper: WhisperTranscriber, tmp_path: Path) -> None:
    path = tmp_path / "quiet.wav"
    recording(path, [3.0])
    with pytest.raises(IngestError, match="no speech was found"):
        parse(path, filename="quiet.wav", context=ParseContext(transcriber=whisper))


def test_speech_to_text_disabled(tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    recording(path, ["Hello."])
    with pytest.raises(IngestError, match="speech-to-text is disabled"):
        parse(path, filename="speech.wav", context=ParseContext())


def test_corrupt_recording(tmp_path: Path) -> None:
    path = tmp_path / "broken.ogg"
    path.write_bytes(b"OggS" + bytes(range(256)) * 8)
    with pytest.raises(IngestError, match="not a readable audio or video file"):
        parse_file(path, filename="broken.ogg", context=ParseContext())
