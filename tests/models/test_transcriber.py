"""Whisper base through faster-whisper on espeak-ng speech: the words, their times, the
windows a long recording is cut into, and the model directory faster-whisper reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from faster_whisper.utils import get_assets_path  # type: ignore[import-untyped]

from mmstack.media.audio import audio_windows
from mmstack.models.transcriber import TranscriptionOptions, WhisperTranscriber, whisper_model_dir
from tests.speech import recording, word_error_rate

FIRST = "The library opens at nine in the morning on weekdays."
LATE = "Please remember to bring your own reading glasses."


def test_words_and_times(whisper: WhisperTranscriber, tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    placed = recording(path, [FIRST, 10.0, LATE])
    shares: list[float] = []
    transcript = whisper.transcribe_file(
        path, TranscriptionOptions(word_timestamps=True), progress=shares.append
    )
    assert transcript.language == "en"
    assert transcript.duration == pytest.approx(placed[-1].end, abs=0.05)
    assert word_error_rate(f"{FIRST} {LATE}", transcript.text) <= 0.3
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts)
    assert all(s.start < s.end for s in transcript.segments)
    late = next(s for s in transcript.segments if "glasses" in s.text.lower())
    assert late.start == pytest.approx(placed[1].start, abs=2.0)
    assert late.words
    assert late.words[0].start == pytest.approx(placed[1].start, abs=2.0)
    assert shares == sorted(shares)
    assert shares[-1] == 1.0


def test_windows_lose_no_words(whisper: WhisperTranscriber, tmp_path: Path) -> None:
    """Windows of 4 s cut a 9 s recording of speech into three, each transcribed alone."""
    sentences = [FIRST, LATE, "Children under twelve must be accompanied by an adult."]
    path = tmp_path / "speech.wav"
    placed = recording(path, sentences)
    assert len(list(audio_windows(path, seconds=4.0, cut_search=1.0))) == 3
    windowed = WhisperTranscriber(whisper._model, window_seconds=4.0)
    segments = list(windowed.transcribe(path))
    assert word_error_rate(" ".join(sentences), " ".join(s.text for s in segments)) <= 0.3
    starts = [s.start for s in segments]
    assert starts == sorted(starts)
    assert segments[-1].end == pytest.approx(placed[-1].end, abs=2.0)


def test_silence_has_no_segments(whisper: WhisperTranscriber, tmp_path: Path) -> None:
    path = tmp_path / "quiet.wav"
    recording(path, [5.0])
    transcript = whisper.transcribe_file(path)
    assert transcript.segments == []
    assert transcript.language == ""


def test_voice_activity_model_ships_in_the_package() -> None:
    assert (Path(get_assets_path()) / "silero_vad_v6.onnx").is_file()


def test_model_dir_links_the_files_once(tmp_path: Path) -> None:
    names = ("model.bin", "config.json", "tokenizer.json", "vocabulary.json")
    sources = {}
    for i, name in enumerate(names):
        source = tmp_path / f"part{i}" / f"file{i}"
        source.parent.mkdir()
        source.write_text(name)
        sources[name] = source
    first = whisper_model_dir(sources, tmp_path / "cache", "m")
    assert whisper_model_dir(sources, tmp_path / "cache", "m") == first
    assert {p.name: p.read_text() for p in first.iterdir()} == {n: n for n in names}
    moved = tmp_path / "moved"
    moved.write_text("new weights")
    assert (whisper_model_dir({**sources, "model.bin": moved}, tmp_path / "cache", "m")
            / "model.bin").read_text() == "new weights"  # fmt: skip
    side_by_side = {name: first / name for name in names}
    assert whisper_model_dir(side_by_side, tmp_path / "other", "m") == first
