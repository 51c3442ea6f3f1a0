"""Test recordings: espeak-ng speech joined with silence, encoded with PyAV, and a word
error rate to compare transcripts with what was said."""

from __future__ import annotations

import io
import re
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from av.audio.stream import AudioStream

from mmstack.models.catalog import BUNDLED_MODELS
from mmstack.models.registry import ModelRegistry
from mmstack.models.transcriber import WhisperTranscriber, load_whisper

RATE = 22_050  # espeak-ng's output rate

Samples = npt.NDArray[np.int16]


@dataclass(frozen=True)
class Placed:
    text: str
    start: float  # seconds
    end: float


def speak(text: str) -> Samples:
    """espeak-ng's voice saying `text`, 22.05 kHz mono 16-bit."""
    out = subprocess.run(
        ["espeak-ng", "--stdout", "-s", "160", text], check=True, capture_output=True
    ).stdout
    with wave.open(io.BytesIO(out), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def recording(path: Path, parts: Sequence[str | float]) -> list[Placed]:
    """Write a WAV of `parts`: a string is spoken, a number is that many seconds of
    silence. Returns where each spoken part lies."""
    pieces: list[Samples] = []
    placed: list[Placed] = []
    at = 0
    for part in parts:
        if isinstance(part, str):
            samples = speak(part)
            placed.append(Placed(part, at / RATE, (at + len(samples)) / RATE))
        else:
            samples = np.zeros(round(part * RATE), dtype=np.int16)
        pieces.append(samples)
        at += len(samples)
    write_wav(path, np.concatenate(pieces))
    return placed


def write_wav(path: Path, samples: Samples, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return path


# codec, container format, sample format and rate each encoder takes
_ENCODINGS = {
    ".mp3": ("libmp3lame", "mp3", "s16p", 22_050),
    ".ogg": ("libopus", "ogg", "s16", 48_000),
    ".flac": ("flac", "flac", "s16", 22_050),
    ".m4a": ("aac", "mp4", "fltp", 22_050),
}


def encode(wav_path: Path, suffix: str, *, stereo: bool = False) -> Path:
    """The WAV re-encoded (MP3, Opus in OGG, FLAC or AAC in M4A) beside it."""
    codec, fmt, sample_format, rate = _ENCODINGS[suffix]
    target = wav_path.with_suffix(suffix)
    layout = "stereo" if stereo else "mono"
    with av.open(str(wav_path)) as source, av.open(str(target), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        assert isinstance(stream, AudioStream)
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        frames = [f for frame in source.decode(audio=0) for f in resampler.resample(frame)]
        for frame in [*frames, *resampler.resample(None)]:
            frame.pts = None
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return target


def silent_video(path: Path, seconds: float = 1.0) -> Path:
    """An MP4 with a video track and no audio track."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(round(seconds * 10)):
            image = np.full((48, 64, 3), i * 20 % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference length, ignoring case and punctuation."""
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1] / max(1, len(ref))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def session_transcriber(tmp_path_factory: pytest.TempPathFactory) -> WhisperTranscriber:
    """Whisper base for the test session: one cache directory, so one loaded model."""
    cache = tmp_path_factory.getbasetemp() / "whisper-cache"
    registry = ModelRegistry(BUNDLED_MODELS, cache)
    return load_whisper(registry, cache_dir=cache, threads=2)
