"""Probing and windowed decoding with PyAV, on espeak-ng speech in every audio format."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from mmstack.errors import IngestError
from mmstack.media.audio import SAMPLE_RATE, audio_windows, probe_audio
from tests.speech import encode, recording, silent_video, write_wav


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    recording(path, ["The first sentence is short.", 2.0, "Then another one follows."])
    return path


@pytest.mark.parametrize(
    ("suffix", "codec", "stereo"),
    [(".wav", "pcm_s16le", False), (".mp3", "mp3", True), (".ogg", "opus", False),
     (".flac", "flac", False), (".m4a", "aac", True)],
)  # fmt: skip
def test_probe_every_format(speech: Path, suffix: str, codec: str, stereo: bool) -> None:
    wav = probe_audio(speech)
    path = speech if suffix == ".wav" else encode(speech, suffix, stereo=stereo)
    info = probe_audio(path)
    assert info.codec == codec
    assert info.channels == (2 if stereo else 1)
    assert info.duration == pytest.approx(wav.duration, abs=0.1)
    assert info.metadata()["sample_rate"] == info.sample_rate > 0


def test_windows_hold_every_sample_and_cut_in_silence(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    placed = recording(path, ["One two three four five six.", 1.0, "Seven eight nine ten."])
    # The window's last 2 s, where it looks for a cut, hold the pause and speech around it.
    windows = list(audio_windows(path, seconds=placed[1].start + 0.5, cut_search=2.0))
    assert len(windows) == 2
    assert windows[0].start == 0
    assert windows[1].start == pytest.approx(windows[0].duration)
    tenth = SAMPLE_RATE // 10
    assert np.abs(windows[0].samples[-tenth:]).max() < 1e-3  # cut in the pause
    assert np.abs(windows[1].samples[:tenth]).max() < 1e-3
    total = sum(len(w.samples) for w in windows)
    assert total / SAMPLE_RATE == pytest.approx(probe_audio(path).duration, abs=0.01)
    for window in windows:
        assert window.samples.dtype == np.float32
        assert window.samples.ndim == 1


def test_unreadable_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"this is a text file, not a recording\n" * 50)
    with pytest.raises(IngestError, match="not a readable audio or video file"):
        probe_audio(junk)


def test_truncated_m4a(speech: Path) -> None:
    m4a = encode(speech, ".m4a")
    truncated = m4a.with_name("truncated.m4a")
    truncated.write_bytes(m4a.read_bytes()[: m4a.stat().st_size // 2])
    with pytest.raises(IngestError, match="not a readable audio or video file"):
        probe_audio(truncated)


def test_zero_length_audio(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "empty.wav", np.zeros(0, dtype=np.int16))
    with pytest.raises(IngestError, match="empty"):
        probe_audio(path)


def test_video_without_audio(tmp_path: Path) -> None:
    path = silent_video(tmp_path / "silent.mp4")
    with pytest.raises(IngestError, match="the video has no audio track"):
        probe_audio(path)
    with pytest.raises(IngestError, match="the video has no audio track"):
        next(audio_windows(path))


def test_unsupported_codec(tmp_path: Path) -> None:
    # A WAV whose format tag names no codec FFmpeg knows.
    data = b"\x00\x01" * 8000
    fmt = struct.pack("<HHIIHH", 0x9999, 1, 16000, 32000, 2, 16)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data"
    body += struct.pack("<I", len(data)) + data
    path = tmp_path / "odd.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    with pytest.raises(IngestError, match="codec is not supported"):
        probe_audio(path)
