"""Keyframe selection and probing with PyAV on videos rendered in the test."""

from __future__ import annotations

import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from mmstack.errors import IngestError
from mmstack.ingest.parsers.limits import ParseLimits
from mmstack.media.keyframes import Keyframe, keyframes_and_positions, probe
from tests.media.video_samples import SIZE, Scene, fade, slide, talk, write_video

MAX_PIXELS = ParseLimits().max_image_pixels


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keyframes")


@pytest.fixture(scope="module")
def talk_mp4(videos: Path) -> Path:
    return talk(videos / "talk.mp4")


def keyframes(
    path: Path, *, progress: Callable[[float], None] | None = None, **options: Any
) -> Iterator[Keyframe]:
    """The keyframes alone; the positions decoded between them go to `progress`."""
    for step in keyframes_and_positions(path, **options):
        if isinstance(step, Keyframe):
            yield step
        elif progress is not None:
            progress(step)


def _times(frames: list[Keyframe]) -> list[float]:
    return [frame.time for frame in frames]


def _difference(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference of two pictures, 0 to 255."""
    a = np.asarray(first.convert("L"), dtype=np.float64)
    b = np.asarray(second.convert("L"), dtype=np.float64)
    return float(np.abs(a - b).mean())


def test_keyframes_at_each_slide_change(talk_mp4: Path) -> None:
    frames = list(keyframes(talk_mp4, max_pixels=MAX_PIXELS))
    assert _times(frames) == pytest.approx([0.0, 20.0, 30.0], abs=1.0)
    assert _difference(frames[1].image, slide("PELICAN")) < 3
    assert _difference(frames[2].image, slide("Thanks", background="navy", color="white")) < 3
    assert all(frame.image.mode == "RGB" and frame.image.size == SIZE for frame in frames)


def test_a_keyframe_every_max_interval_without_change(talk_mp4: Path) -> None:
    frames = list(keyframes(talk_mp4, max_pixels=MAX_PIXELS, max_interval=8.0))
    assert _times(frames) == pytest.approx([0.0, 8.0, 16.0, 20.0, 28.0, 30.0], abs=1.0)
    changes = [frame.change for frame in frames]
    assert changes[0] == 1.0
    assert changes[1] == changes[2] == changes[4] == 0.0  # the same slide again
    assert min(changes[3], changes[5]) > 0.02


def test_progress_reports_seconds_decoded(talk_mp4: Path) -> None:
    seen: list[float] = []
    list(keyframes(talk_mp4, max_pixels=MAX_PIXELS, progress=seen.append))
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(35.0, abs=1.0)
    assert len(seen) == pytest.approx(70, abs=3)  # two samples a second


def test_fade_is_taken_once_settled(videos: Path) -> None:
    first, second = slide("Introduction"), slide("Results", background="lightyellow")
    scenes = [Scene(first, 6), *fade(first, second, 1.5, fps=4), Scene(second, 6)]
    frames = list(keyframes(write_video(videos / "fade.mp4", scenes), max_pixels=MAX_PIXELS))
    assert len(frames) == 2
    assert frames[1].time == pytest.approx(6.0, abs=1.0)  # when the change began
    assert _difference(frames[1].image, second) < 3  # the picture after the fade


def test_motion_gives_one_keyframe_per_motion_gap(videos: Path) -> None:
    scenes = []
    for step in range(100):  # a box crossing the frame and back for 25 s
        image = slide("")
        x = step * 6 if step < 50 else (100 - step) * 6
        ImageDraw.Draw(image).rectangle((x, 80, x + 60, 160), fill="red")
        scenes.append(Scene(image, 0.25))
    path = write_video(videos / "motion.mp4", scenes)
    frames = list(keyframes(path, max_pixels=MAX_PIXELS, motion_gap=10.0))
    assert len(frames) == 3
    assert min(np.diff(_times(frames))) >= 10.0


def test_small_changes_on_a_slide(videos: Path) -> None:
    scenes = [Scene(slide("One"), 6), Scene(slide("Two"), 6)]
    frames = list(keyframes(write_video(videos / "words.mp4", scenes), max_pixels=MAX_PIXELS))
    assert _times(frames) == pytest.approx([0.0, 6.0], abs=1.0)


def test_a_cut_in_the_last_moment_is_kept(videos: Path) -> None:
    scenes = [Scene(slide("Opening"), 6), Scene(slide("The end"), 0.5)]
    frames = list(keyframes(write_video(videos / "late.mp4", scenes), max_pixels=MAX_PIXELS))
    assert _times(frames) == pytest.approx([0.0, 6.0], abs=0.5)


def test_rotated_video_comes_upright(videos: Path) -> None:
    picture = slide("")
    ImageDraw.Draw(picture).rectangle((0, 0, 40, 30), fill="red")  # top left
    path = write_video(videos / "phone.mp4", [Scene(picture, 1)], rotation=90)
    image = next(keyframes(path, max_pixels=MAX_PIXELS)).image
    assert image.size == (SIZE[1], SIZE[0])
    # 90 degrees counterclockwise takes the top left corner to the bottom left.
    red, _, blue = image.getpixel((5, image.height - 5))  # type: ignore[misc]
    assert red > 200
    assert blue < 60
    assert probe(path, max_pixels=MAX_PIXELS).width == SIZE[0]


def test_large_frames_are_scaled_to_max_side(videos: Path) -> None:
    path = write_video(videos / "wide.mp4", [Scene(slide("Wide", size=(640, 360)), 1)])
    image = next(keyframes(path, max_pixels=MAX_PIXELS, max_side=320)).image
    assert image.size == (320, 180)


@pytest.mark.parametrize(
    ("suffix", "codec", "has_audio"),
    [(".mp4", "h264", True), (".webm", "vp9", True), (".mkv", "h264", False),
     (".mov", "h264", True)],
)  # fmt: skip
def test_probe(videos: Path, suffix: str, codec: str, has_audio: bool) -> None:
    path = talk(videos / f"probe{suffix}", speech=has_audio)
    info = probe(path, max_pixels=MAX_PIXELS)
    assert (info.width, info.height, info.codec, info.has_audio) == (*SIZE, codec, has_audio)
    assert info.duration == pytest.approx(35.0, abs=0.1)
    assert info.fps == pytest.approx(4.0)
    assert _times(list(keyframes(path, max_pixels=MAX_PIXELS))) == pytest.approx([0, 20, 30], abs=1)


def test_frames_over_the_pixel_limit(talk_mp4: Path) -> None:
    small = SIZE[0] * SIZE[1] - 1
    with pytest.raises(IngestError, match=r"320x240 pixels, over the limit of 76,799 pixels"):
        probe(talk_mp4, max_pixels=small)
    with pytest.raises(IngestError, match="over the limit"):
        next(keyframes(talk_mp4, max_pixels=small))


def test_truncated_mp4(talk_mp4: Path, tmp_path: Path) -> None:
    data = talk_mp4.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the index (moov) is written last
    with pytest.raises(IngestError, match="truncated or corrupt"):
        probe(cut, max_pixels=MAX_PIXELS)


def test_truncated_matroska_keeps_the_frames_before_the_cut(videos: Path, tmp_path: Path) -> None:
    data = talk(videos / "whole.mkv", speech=False).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    seen: list[float] = []
    frames = list(keyframes(cut, max_pixels=MAX_PIXELS, progress=seen.append))
    assert frames[0].time == 0.0
    assert 5.0 < seen[-1] < 30.0


def test_files_that_are_not_videos(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"meeting notes, not a video\n" * 100)
    with pytest.raises(IngestError, match="not a video file"):
        probe(text, max_pixels=MAX_PIXELS)
    png = tmp_path / "picture.mp4"
    slide("Hello").save(png, "PNG")
    with pytest.raises(IngestError, match="not a video file: the content is a PNG image"):
        probe(png, max_pixels=MAX_PIXELS)
    empty = tmp_path / "empty.webm"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match="empty"):
        probe(empty, max_pixels=MAX_PIXELS)


def test_no_video_stream(tmp_path: Path) -> None:
    wav = tmp_path / "sound.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(np.zeros(16_000, dtype=np.int16).tobytes())
    with pytest.raises(IngestError, match="not a video file: no video container"):
        probe(wav, max_pixels=MAX_PIXELS)
    m4a = tmp_path / "sound.mp4"
    with av.open(str(wav)) as source, av.open(str(m4a), "w") as out:
        stream = out.add_stream("aac", rate=16_000, layout="mono")
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=16_000)
        for frame in source.decode(audio=0):
            for converted in resampler.resample(frame):
                converted.pts = None
                out.mux(stream.encode(converted))
        out.mux(stream.encode(None))
    with pytest.raises(IngestError, match=r"no video stream \(it has only audio\)"):
        probe(m4a, max_pixels=MAX_PIXELS)


def test_unsupported_codec(videos: Path, tmp_path: Path) -> None:
    data = talk(videos / "codec.mkv", speech=False).read_bytes()
    unknown = tmp_path / "unknown.mkv"
    unknown.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_ZZZZZ/ISO/AVC"))
    with pytest.raises(IngestError, match="unsupported video codec"):
        probe(unknown, max_pixels=MAX_PIXELS)
