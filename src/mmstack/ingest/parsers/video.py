"""Video: the text shown on its keyframes (OCR) and the speech of its audio track, on one
timeline.

Each keyframe (`media/keyframes.py`: the first frame, scene changes, one at least every
30 s) becomes a JPEG thumbnail asset; its OCR paragraphs last from that keyframe to the
next (the next one reading the same text extends them instead of repeating them). Speech
segments come from the transcriber, each anchored to the keyframe on screen when it
starts. A video with neither text nor speech still gets one element describing it.
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from mmstack.errors import IngestError
from mmstack.ingest.document import Element, ElementKind, ParsedDocument, TextSource
from mmstack.ingest.parsers.ocr_layout import ocr_elements
from mmstack.media.detect import EXTENSION_MEDIA_TYPES, VIDEO_MATROSKA, VIDEO_MP4, extension_of
from mmstack.media.images import asset_key, thumbnail_bytes
from mmstack.media.keyframes import Keyframe, VideoInfo, keyframes_and_positions, probe
from mmstack.models.contracts import Transcriber

from .context import ParseContext

FRAMES_SHARE: Final = 0.25
"""Share of the progress given to the frame pass when the audio is transcribed too: on a
CPU, Whisper over the sound takes about three times as long as decoding, sampling and
reading the keyframes (0.22 of the time on a 30-minute talk with a slide a minute and
speech every 15 s, measured with `bench/media.py`)."""

SAME_TEXT: Final = 0.9
"""Similarity (difflib ratio) above which two keyframes read the same text: OCR of one
slide varies a little from frame to frame."""

UNCHANGED: Final = 0.002
"""A keyframe differing from the previous one by less than this share of its picture
(`Keyframe.change`: a still picture sampled at the maximum interval) is not read again."""

_TRUNCATION_SLACK: Final = 2.0  # seconds short of the declared duration before warning


@dataclass(slots=True)
class _Shot:
    """A keyframe's OCR paragraphs, open until the next keyframe with other text."""

    start: float
    elements: list[Element]
    text: str = field(init=False)

    def __post_init__(self) -> None:
        self.text = " ".join(" ".join(e.text for e in self.elements).casefold().split())


def parse(path: Path, *, filename: str, context: ParseContext) -> ParsedDocument:
    context.limits.check_size(path.stat().st_size)
    info = context.decoder.call(probe, path, max_pixels=context.limits.max_image_pixels)
    frames_share = FRAMES_SHARE if context.transcriber is not None and info.has_audio else 1.0
    metadata: dict[str, Any] = {
        "width": info.width,
        "height": info.height,
        "codec": info.codec,
        "fps": round(info.fps, 3) if info.fps else None,
        "duration": round(info.duration, 3) if info.duration else None,
        "has_audio": info.has_audio,
        "container": info.container,
    }
    frames = _FramePass(context, info, lambda share: context.progress(frames_share * share))
    frames.run(path)
    elements = frames.elements
    duration = info.duration or frames.decoded_until
    metadata["duration"] = round(duration, 3)
    metadata["keyframes"] = len(frames.times)
    if frames.truncated:
        metadata["warning"] = (
            f"the picture stops at {frames.decoded_until:.1f} s of {info.duration:.1f} s: "
            "the file may be truncated or damaged"
        )
    if context.transcriber is not None and info.has_audio:
        metadata["transcribed"] = True
        try:
            elements.extend(_speech(path, context.transcriber, frames, frames_share, context))
        except IngestError as exc:
            # The frames (and the speech before the damage) stand; the failure is noted.
            metadata["speech_error"] = exc.message
        _check_count(len(elements), context)
    elements.sort(key=lambda e: e.time_start or 0.0)  # stable: a slide before its speech
    first = frames.keys[0] if frames.keys else None
    if not elements:
        text = describe(filename, duration, info)
        elements = [Element(ElementKind.PARAGRAPH, text, time_start=0.0, time_end=duration)]
        if first is not None:
            elements[0] = dataclasses.replace(elements[0], thumbnail=first)
    context.progress(1.0)
    return ParsedDocument(
        media_type=_media_type(filename, info.container),
        elements=elements,
        metadata=metadata,
        duration=duration,
        assets=frames.assets,
        thumbnail=first,
    )


def _media_type(filename: str, container: str) -> str:
    by_name = EXTENSION_MEDIA_TYPES.get(extension_of(filename), "")
    if by_name.startswith("video/"):
        return by_name
    return VIDEO_MATROSKA if "matroska" in container else VIDEO_MP4


def describe(filename: str, duration: float, info: VideoInfo) -> str:
    """One sentence saying what the video is, for a video without text or speech."""
    minutes, seconds = divmod(round(duration), 60)
    length = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    sound = "with sound" if info.has_audio else "without sound"
    return f"Video {filename}, {length}, {info.width} x {info.height} pixels, {sound}."


class _FramePass:
    """Keyframes to thumbnails and OCR paragraphs, holding one keyframe image at a time."""

    def __init__(
        self, context: ParseContext, info: VideoInfo, progress: Callable[[float], None]
    ) -> None:
        self._context = context
        self._info = info
        self._progress = progress
        self.times: list[float] = []
        self.keys: list[str] = []  # the thumbnail asset of each keyframe
        self.assets: dict[str, bytes] = {}
        self.elements: list[Element] = []
        self.decoded_until = 0.0
        self._open: _Shot | None = None

    def run(self, path: Path) -> None:
        decoder = self._context.decoder
        max_pixels = self._context.limits.max_image_pixels
        for step in decoder.iterate(keyframes_and_positions, path, max_pixels=max_pixels):
            if isinstance(step, Keyframe):
                self._add(step)
            else:
                self._decoded(step)
        self._close(self.end)

    @property
    def truncated(self) -> bool:
        declared = self._info.duration
        return declared is not None and self.decoded_until < declared - _TRUNCATION_SLACK

    @property
    def end(self) -> float:
        """Where the picture ends: the declared duration, unless it stops well before."""
        if self._info.duration is None or self.truncated:
            return self.decoded_until
        return self._info.duration

    def key_at(self, time: float) -> str | None:
        """The thumbnail of the keyframe on screen at `time`."""
        index = bisect.bisect_right(self.times, time) - 1
        return self.keys[max(index, 0)] if self.keys else None

    def _decoded(self, time: float) -> None:
        self.decoded_until = max(self.decoded_until, time)
        if self._info.duration:
            self._progress(min(1.0, time / self._info.duration))

    def _add(self, keyframe: Keyframe) -> None:
        if self.keys and keyframe.change < UNCHANGED:
            # The same picture as the last keyframe: its thumbnail and text still stand.
            self.times.append(keyframe.time)
            self.keys.append(self.keys[-1])
            return
        preview = thumbnail_bytes(keyframe.image)
        key = asset_key(preview)
        self.assets[key] = preview
        self.times.append(keyframe.time)
        self.keys.append(key)
        if self._context.ocr is None:
            return
        shot = _Shot(
            keyframe.time, ocr_elements(self._context.ocr.read(keyframe.image), thumbnail=key)
        )
        if self._open is not None and _same_text(self._open.text, shot.text):
            return
        self._close(keyframe.time)
        self._open = shot if shot.elements else None

    def _close(self, end: float) -> None:
        if self._open is None:
            return
        start = self._open.start
        self.elements += [
            dataclasses.replace(e, time_start=start, time_end=max(end, start))
            for e in self._open.elements
        ]
        self._open = None
        _check_count(len(self.elements), self._context)


def _same_text(first: str, second: str) -> bool:
    if first == second:
        return True
    return (
        bool(first and second) and difflib.SequenceMatcher(None, first, second).ratio() >= SAME_TEXT
    )


def _speech(
    path: Path,
    transcriber: Transcriber,
    frames: _FramePass,
    frames_share: float,
    context: ParseContext,
) -> Iterator[Element]:
    def report(share: float) -> None:
        context.progress(frames_share + (1.0 - frames_share) * share)

    for segment in transcriber.transcribe(path, progress=report, decoder=context.decoder):
        if text := " ".join(segment.text.split()):
            yield Element(
                ElementKind.PARAGRAPH,
                text,
                source=TextSource.SPEECH,
                time_start=segment.start,
                time_end=max(segment.end, segment.start),
                thumbnail=frames.key_at(segment.start),
            )


def _check_count(count: int, context: ParseContext) -> None:
    if count > context.limits.max_elements:
        raise IngestError(
            f"video has more than {context.limits.max_elements} text blocks, over the limit"
        )
