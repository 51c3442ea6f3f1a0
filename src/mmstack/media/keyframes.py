"""Keyframes of a video: the first frame, each cut or new slide, continuous motion every
`motion_gap` seconds, and at least one every `max_interval` seconds, found in one
streaming pass with PyAV.

Memory stays at a couple of frames whatever the length: the decoder's current frame, the
last sampled one (kept for the end of the stream) and small grayscale copies to compare.
ffmpeg is spared what it can skip: frames between samples are decoded but never converted,
non-reference frames are not decoded at all on high frame rates, and comparisons run on
thumbnails a few dozen pixels wide made by swscale.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final

import av
import av.container
import av.stream
import av.video
import numpy as np
import numpy.typing as npt
from PIL import Image

from mmstack.errors import IngestError
from mmstack.media.detect import describe_signature

# ffmpeg may only try the demuxers of video containers, and read local files: anything else
# it could open (a PNG, a GIF, a WAV or ANSI text renamed .mp4, a playlist naming other
# files) is refused before it is parsed.
_OPEN_OPTIONS: Final = {
    "format_whitelist": "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,flv,asf,ogg",
    "protocol_whitelist": "file",
}
_COMPARE_WIDTH: Final = 64  # width of the grayscale copies that are compared
_PIXEL_DELTA: Final = 24  # of 255: a smaller change of a pixel is noise or compression
_MIN_NONREF_RATE: Final = 4.0  # frame rate / sample rate above which B-frames are skipped

Gray = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration: float | None  # seconds; None when the container does not say
    width: int
    height: int
    codec: str
    fps: float | None
    has_audio: bool
    container: str  # ffmpeg's format name: "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"...


@dataclass(frozen=True, slots=True)
class Keyframe:
    time: float  # seconds from the start of the video
    image: Image.Image  # RGB, upright, at most `max_side` pixels on its longer side
    change: float = 1.0
    """Share of the picture that differs from the previous keyframe (1.0 for the first);
    0 for a keyframe taken at the maximum interval on a still picture."""


def probe(path: Path, *, max_pixels: int) -> VideoInfo:
    """What the container says about its video: raises `IngestError` if it is not a
    readable video with frames of at most `max_pixels`."""
    with _open(path) as container:
        return _info(container, _video_stream(container), max_pixels)


def keyframes_and_positions(
    path: Path,
    *,
    max_pixels: int,
    sample_fps: float = 2.0,
    threshold: float = 0.01,
    min_gap: float = 2.0,
    settle: float = 2.0,
    motion_gap: float = 10.0,
    max_interval: float = 30.0,
    max_side: int = 1920,
) -> Iterator[Keyframe | float]:
    """The frames worth reading, in time order, between the seconds of video decoded so far
    (one for each frame compared).

    - `sample_fps`: frames compared per second (a slide change is seen within 1/sample_fps).
    - `threshold`: share of the picture that must differ (pixels of a 64-pixel-wide gray
      copy changed by more than ~10% of full scale) from the last keyframe to count as a
      change. 0.01 catches one more bullet line on a 720p slide (about 0.015) or one word
      replaced by another in large type; compression noise stays at 0 and a mouse pointer
      far below it.
    - `min_gap`: seconds between two keyframes at least.
    - `settle`: after a change, the picture is taken once it stops changing between two
      samples (a cut, a new slide, the end of a fade or a slide build); its `time` is that
      of the change. A picture still changing after `settle` seconds is motion (a camera,
      a person), not a new scene:
    - `motion_gap`: seconds between keyframes taken of such motion at least, so a film or a
      talking head costs one keyframe per `motion_gap`, not one per `min_gap`.
    - `max_interval`: seconds after which a keyframe is taken even without a change, so
      slowly changing video (a scroll, a pan) is still sampled.
    - `max_side`: the yielded image is scaled down to this longer side (OCR needs no more).

    The first frame is always a keyframe. Raises `IngestError` for a file that cannot be
    decoded from the start; a stream that breaks off later ends the keyframes there (the
    last position tells how far it got).
    """
    with _open(path) as container:
        stream = _video_stream(container)
        info = _info(container, stream, max_pixels)
        stream.thread_type = "AUTO"
        if info.fps is not None and info.fps >= _MIN_NONREF_RATE * sample_fps:
            stream.codec_context.skip_frame = "NONREF"
        start = _seconds(stream.start_time, stream.time_base) or 0.0
        step = 1.0 / sample_fps
        next_sample = 0.0
        key_time = -max_interval  # of the last keyframe
        key_gray: Gray | None = None
        pending: float | None = None  # time of a change waiting to settle
        pending_gray: Gray | None = None
        last: av.VideoFrame | None = None
        last_time = 0.0
        moving = -max_interval  # when the picture was last found in motion
        for frame in _decode(container, stream):
            if frame.pts is None:
                continue
            time = max(float(frame.time) - start, 0.0)
            if time < next_sample:
                continue
            while next_sample <= time:
                next_sample += step
            if frame.width * frame.height > max_pixels:
                raise IngestError(_too_large(frame.width, frame.height, max_pixels))
            yield time
            gray = _gray(frame)
            last, last_time = frame, time
            if pending is not None and pending_gray is not None:
                if _changed(gray, pending_gray) < threshold:
                    yield Keyframe(pending, _image(frame, max_side), _change(gray, key_gray))
                    key_time, key_gray, pending = pending, gray, None
                elif time - pending < settle:
                    pending_gray = gray
                else:
                    if time - key_time >= motion_gap:
                        yield Keyframe(time, _image(frame, max_side), _change(gray, key_gray))
                        key_time, key_gray = time, gray
                    pending, moving = None, time
                continue
            if key_gray is None or time - key_time >= max_interval:
                yield Keyframe(time, _image(frame, max_side), _change(gray, key_gray))
                key_time, key_gray = time, gray
            elif time - key_time >= min_gap and _changed(gray, key_gray) >= threshold:
                pending, pending_gray = time, gray
        if pending is None or pending_gray is None or last is None:
            return
        # A change that has not settled by the end: a cut, unless the picture was moving.
        if pending - moving > 1.5 * step or last_time - key_time >= motion_gap:
            yield Keyframe(pending, _image(last, max_side), _change(pending_gray, key_gray))


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r", options=_OPEN_OPTIONS)
    except av.error.FFmpegError:
        raise IngestError(_unreadable(path)) from None


def _unreadable(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(16)
    if not head:
        return "file is empty"
    if head[4:8] == b"ftyp":
        return (
            "video cannot be read: the MP4/QuickTime file is truncated or corrupt "
            "(its index, the moov box, is missing or damaged)"
        )
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video cannot be read: the Matroska/WebM file is corrupt"
    if what := describe_signature(head):
        return f"not a video file: the content is {what}"
    return "not a video file: no video container (MP4, QuickTime, WebM, Matroska...) found"


def _video_stream(container: av.container.InputContainer) -> av.video.VideoStream:
    cover = av.stream.Disposition.attached_pic  # an album cover shown as a "video" stream
    streams = [s for s in container.streams.video if not s.disposition & cover]
    if not streams:
        others = [s for s in container.streams if not s.disposition & cover]
        kinds = sorted({str(s.type) for s in others})
        if len(others) < len(container.streams):
            kinds.append("a cover picture")
        has = f" (it has only {' and '.join(kinds)})" if kinds else ""
        raise IngestError(f"file has no video stream{has}")
    stream = streams[0]
    if stream.codec_context is None:
        raise IngestError("unsupported video codec: ffmpeg has no decoder for this stream")
    return stream


def _info(
    container: av.container.InputContainer, stream: av.video.VideoStream, max_pixels: int
) -> VideoInfo:
    ctx = stream.codec_context
    width, height = ctx.width, ctx.height
    if width * height > max_pixels:
        raise IngestError(_too_large(width, height, max_pixels))
    duration = _seconds(stream.duration, stream.time_base)
    if duration is None and container.duration is not None and container.duration > 0:
        duration = container.duration / av.time_base
    rate = stream.average_rate or stream.guessed_rate
    return VideoInfo(
        duration=duration,
        width=width,
        height=height,
        codec=ctx.name,
        fps=float(rate) if rate else None,
        has_audio=bool(container.streams.audio),
        container=container.format.name,
    )


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if not value or time_base is None or value < 0:
        return None
    return float(value * time_base)


def _too_large(width: int, height: int, limit: int) -> str:
    return f"video frames are {width}x{height} pixels, over the limit of {limit:,} pixels"


def _decode(
    container: av.container.InputContainer, stream: av.video.VideoStream
) -> Iterator[av.VideoFrame]:
    decoded = False
    try:
        for frame in container.decode(stream):
            decoded = True
            yield frame
    except av.error.FFmpegError as exc:
        if not decoded:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise IngestError(f"video cannot be decoded: {reason}") from None
        # Damage or truncation later on: the keyframes found so far stand.
    if not decoded:
        raise IngestError("video has no frames that can be decoded")


def _gray(frame: av.VideoFrame) -> Gray:
    height = max(8, round(_COMPARE_WIDTH * frame.height / max(frame.width, 1)))
    small = frame.reformat(width=_COMPARE_WIDTH, height=height, format="gray", interpolation="AREA")
    return np.asarray(small.to_ndarray(), dtype=np.uint8)


def _change(gray: Gray, key_gray: Gray | None) -> float:
    return 1.0 if key_gray is None else _changed(gray, key_gray)


def _changed(a: Gray, b: Gray) -> float:
    """Share of pixels that differ by more than noise between two gray copies."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(np.count_nonzero(diff > _PIXEL_DELTA)) / diff.size


def _image(frame: av.VideoFrame, max_side: int) -> Image.Image:
    scale = min(1.0, max_side / max(frame.width, frame.height))
    width, height = round(frame.width * scale), round(frame.height * scale)
    rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
    image = Image.fromarray(np.asarray(rgb.to_ndarray(), dtype=np.uint8))
    return _upright(image, frame.rotation)


def _upright(image: Image.Image, rotation: float) -> Image.Image:
    """The picture as it is meant to be shown (phones store portrait video sideways and
    rotate it on playback); `rotation` is counterclockwise, in degrees."""
    match round(rotation) % 360:
        case 90:
            return image.transpose(Image.Transpose.ROTATE_90)
        case 180:
            return image.transpose(Image.Transpose.ROTATE_180)
        case 270:
            return image.transpose(Image.Transpose.ROTATE_270)
    return image
