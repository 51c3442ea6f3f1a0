"""Test videos made with PyAV: slides rendered with Pillow, espeak-ng speech placed in time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tests.speech import RATE, speak

SIZE = (320, 240)


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    seconds: float


def slide(
    text: str,
    *,
    size: tuple[int, int] = SIZE,
    background: str = "white",
    color: str = "black",
    font_size: int = 36,
) -> Image.Image:
    """A slide with `text` centred on a plain background."""
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    position = ((size[0] - (right - left)) // 2, (size[1] - (bottom - top)) // 2)
    draw.text(position, text, fill=color, font=font)
    return image


def fade(first: Image.Image, second: Image.Image, seconds: float, fps: int) -> list[Scene]:
    """A cross-fade from one picture to the other, one scene per frame."""
    steps = max(1, round(seconds * fps))
    return [Scene(Image.blend(first, second, (i + 1) / (steps + 1)), 1 / fps) for i in range(steps)]


# video codec, audio codec, the audio codec's sample format and rate
_CODECS = {
    ".mp4": ("libx264", "aac", "fltp", RATE),
    ".mov": ("libx264", "aac", "fltp", RATE),
    ".mkv": ("libx264", "aac", "fltp", RATE),
    ".webm": ("libvpx-vp9", "libopus", "s16", 48_000),
}


def write_video(
    path: Path,
    scenes: Sequence[Scene],
    *,
    fps: int = 4,
    speech: Sequence[tuple[float, str]] = (),
    rotation: int = 0,
) -> Path:
    """Encode `scenes` one after the other; with `speech` ((second, words) pairs) the file
    gets an audio track of silence with those words spoken at those times."""
    video_codec, audio_codec, sample_format, rate = _CODECS[path.suffix]
    size = scenes[0].image.size
    with av.open(str(path), "w") as out:
        video = out.add_stream(video_codec, rate=fps)
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        audio = out.add_stream(audio_codec, rate=rate, layout="mono") if speech else None
        assert audio is None or isinstance(audio, av.AudioStream)
        index = 0
        for scene in scenes:
            frame = av.VideoFrame.from_ndarray(np.asarray(scene.image), format="rgb24")
            for _ in range(max(1, round(scene.seconds * fps))):
                frame.pts, frame.time_base = index, Fraction(1, fps)
                out.mux(video.encode(frame))
                index += 1
        out.mux(video.encode(None))
        if audio is not None:
            samples = _soundtrack(index / fps, speech)
            source = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            source.sample_rate = RATE
            resampler = av.AudioResampler(format=sample_format, layout="mono", rate=rate)
            for chunk in [*resampler.resample(source), *resampler.resample(None)]:
                chunk.pts = None
                out.mux(audio.encode(chunk))
            out.mux(audio.encode(None))
    return path


def _soundtrack(seconds: float, speech: Sequence[tuple[float, str]]) -> np.ndarray:
    track = np.zeros(round(seconds * RATE), dtype=np.int16)
    for at, words in speech:
        spoken = speak(words)
        start = round(at * RATE)
        end = min(len(track), start + len(spoken))
        track[start:end] = spoken[: end - start]
    return track


def talk(path: Path, *, speech: bool = True) -> Path:
    """The standard talk, 35 s: a title slide, from 20 s a slide reading PELICAN, from 30 s
    a dark closing slide; with `speech`, a sentence spoken from 12 s."""
    scenes = [
        Scene(slide("Quarterly review"), 20),
        Scene(slide("PELICAN"), 10),
        Scene(slide("Thanks", background="navy", color="white"), 5),
    ]
    spoken = [(12.0, "The budget meeting starts at noon.")] if speech else []
    return write_video(path, scenes, speech=spoken)
