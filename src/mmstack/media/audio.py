"""Audio tracks with PyAV: what a file's track is, and its sound as 16 kHz mono windows.

A long recording is never decoded into one array: `audio_windows` yields a few minutes at
a time, each ending at the quietest moment near its nominal end so that a cut rarely falls
inside a word, and nothing is dropped or repeated between windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmstack.arrays import FloatArray
from mmstack.errors import IngestError

if TYPE_CHECKING:
    import av
    from av.audio.codeccontext import AudioCodecContext
    from av.audio.frame import AudioFrame
    from av.audio.stream import AudioStream
    from av.container import InputContainer

SAMPLE_RATE = 16_000
"""Samples per second of the decoded windows (what Whisper and Silero VAD expect)."""


_FRAME = SAMPLE_RATE // 50  # 20 ms: the energy frame for finding a quiet cut
_SMOOTH_FRAMES = 10  # 200 ms: a pause between words, not a stop inside one


@dataclass(frozen=True, slots=True)
class AudioInfo:
    duration: float  # seconds
    codec: str
    sample_rate: int  # of the file's track, before resampling
    channels: int
    container: str

    def metadata(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "duration": round(self.duration, 3),
            "container": self.container,
        }


@dataclass(frozen=True, slots=True)
class AudioWindow:
    start: float  # seconds from the start of the file
    samples: FloatArray  # 16 kHz mono float32, 1-D

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def probe_audio(path: Path) -> AudioInfo:
    """The first audio track's codec, rate, channels and duration.

    Raises `IngestError` for a file that is not media or is damaged, has no audio track,
    a codec this build cannot decode, or no sound at all.
    """
    with _open(path) as container:
        stream = _audio_stream(container)
        codec = _decoder(stream)
        duration = _declared_duration(container, stream)
        if duration is None:
            duration = _decoded_seconds(container, stream)
        if duration <= 0:
            raise IngestError("the audio track is empty (zero length)")
        return AudioInfo(
            duration=duration,
            codec=codec.codec.canonical_name,
            sample_rate=codec.sample_rate,
            channels=codec.layout.nb_channels,
            container=container.format.name,
        )


def audio_windows(
    path: Path, *, seconds: float = 120.0, cut_search: float = 10.0
) -> Iterator[AudioWindow]:
    """The audio track as consecutive windows of about `seconds` (16 kHz mono float32).

    Each window but the last ends at the quietest 200 ms in its final `cut_search` seconds;
    the windows together hold every sample once, and `start` places each in the file.
    """
    if cut_search <= 0 or seconds <= cut_search:
        raise ValueError("need 0 < cut_search < seconds")
    size = round(seconds * SAMPLE_RATE)
    search = round(cut_search * SAMPLE_RATE)
    pending: list[FloatArray] = []
    buffered = 0
    start = 0  # samples emitted so far
    for chunk in _decoded(path):
        pending.append(chunk)
        buffered += len(chunk)
        while buffered >= size:
            samples = np.concatenate(pending)
            cut = quiet_cut(samples, size - search, size)
            yield AudioWindow(start / SAMPLE_RATE, samples[:cut])
            start += cut
            pending = [samples[cut:]]
            buffered = len(samples) - cut
    if buffered:
        yield AudioWindow(start / SAMPLE_RATE, np.concatenate(pending))


def quiet_cut(samples: FloatArray, lo: int, hi: int) -> int:
    """The sample index in [lo, hi) at the middle of the quietest 200 ms there."""
    lo = max(0, lo)
    hi = min(len(samples), hi)
    frames = (hi - lo) // _FRAME
    if frames <= _SMOOTH_FRAMES:
        return hi
    region = samples[lo : lo + frames * _FRAME].reshape(frames, _FRAME)
    energy = np.square(region, dtype=np.float64).mean(axis=1)
    smoothed = np.convolve(energy, np.ones(_SMOOTH_FRAMES), mode="valid")
    quietest = int(np.argmin(smoothed))
    return lo + (quietest + _SMOOTH_FRAMES // 2) * _FRAME


@contextmanager
def _open(path: Path) -> Iterator[InputContainer]:
    # PyAV (23 MB) is imported where a file is decoded: in the parser helper, mostly.
    import av

    try:
        container = av.open(str(path), mode="r")
    except av.FFmpegError as exc:
        raise IngestError(f"not a readable audio or video file ({_reason(exc)})") from None
    try:
        yield container
    finally:
        container.close()


def _audio_stream(container: InputContainer) -> AudioStream:
    if container.streams.audio:
        return container.streams.audio[0]
    if container.streams.video:
        raise IngestError("the video has no audio track")
    raise IngestError("the file has no audio track")


def _decoder(stream: AudioStream) -> AudioCodecContext:
    # PyAV leaves the codec context unset when this FFmpeg build has no decoder for it.
    codec: AudioCodecContext | None = stream.codec_context
    if codec is None:
        raise IngestError("the audio codec is not supported (no decoder for it)")
    return codec


def _declared_duration(container: InputContainer, stream: AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        import av

        return float(Fraction(container.duration, av.time_base))
    return None


def _decoded_seconds(container: InputContainer, stream: AudioStream) -> float:
    """The length of a track whose header does not say it, by decoding it (no resampling)."""
    import av

    samples = 0
    rate = _decoder(stream).sample_rate or 1
    try:
        for frame in container.decode(stream):
            samples += frame.samples
    except av.FFmpegError as exc:
        raise IngestError(f"the audio is damaged ({_reason(exc)})") from None
    return samples / rate


def _decoded(path: Path) -> Iterator[FloatArray]:
    """The first audio track, resampled to 16 kHz mono float32, frame by frame."""
    import av

    with _open(path) as container:
        stream = _audio_stream(container)
        _decoder(stream)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        done = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = _mono(out)
                    done += len(chunk)
                    yield chunk
            for out in resampler.resample(None):
                yield _mono(out)
        except av.FFmpegError as exc:
            at = done / SAMPLE_RATE
            raise IngestError(f"the audio is damaged at {at:.1f} s ({_reason(exc)})") from None


def _mono(frame: AudioFrame) -> FloatArray:
    return np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)


def _reason(exc: av.FFmpegError) -> str:
    # PyAV's message ends with the file name; the temporary path means nothing to the user.
    return str(exc.strerror or exc).rstrip(".")
