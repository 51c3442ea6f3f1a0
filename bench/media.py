"""Media ingestion on this machine, through the real parsers with the bundled models.

Speeds are ratios against a baseline measured in the same run (these machines are noisy):

1. OCR: A4 pages of text (rendered at 150 dpi) through `image.parse`, against RapidOCR
   alone (`RapidTextReader.read`) on the same pages. Target: ratio >= 0.9 (loading,
   thumbnail, perceptual hash and layout add little to OCR).
2. Audio: the real-time factor of `audio.parse` on an espeak-ng recording (speech with
   pauses), against faster-whisper alone (`WhisperModel.transcribe` with its VAD filter,
   same model, beam 5) on the same file. Target: ratio >= 0.8.
3. Video: minutes of video per minute of `video.parse` on a 30-minute recording (640x360,
   15 fps H.264 with AAC: a slide of text per minute, a sentence spoken every 15 s), frames
   and OCR only, against decoding its picture alone with PyAV (no target: the frame pass
   is bound by OCR, once per distinct picture). Then the whole ingestion, OCR and Whisper,
   in a child process: minutes per minute, and where the time goes (the frame pass against
   transcription, what `video.FRAMES_SHARE` should be).
4. Peak memory of that child (RSS sampled every 20 ms with psutil, and the kernel's
   ru_maxrss): the growth over the RSS with both models loaded must stay under
   **300 MB**, whatever the length. Nothing grows with the file: audio is decoded 30 s at
   a time (1.9 MB as float32), the picture a frame at a time, and the elements are text;
   300 MB leaves room for the working buffers of onnxruntime and CTranslate2. The whole
   process (models included) should stay under **1.5 GB**, what a small box can give
   ingestion beside the LLM.

    .venv/bin/python -m bench.media [--minutes 30] [--pages 4] [--workdir DIR]

The recording is generated in a temporary directory (or `--workdir`) and takes about two
minutes to make; the whole run takes about 20 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import psutil
from PIL import Image, ImageDraw, ImageFont

from bench.common import print_table
from mmstack.ingest.document import TextSource
from mmstack.ingest.parsers import audio, image, video
from mmstack.ingest.parsers.context import ParseContext
from mmstack.media.audio import probe_audio
from mmstack.media.keyframes import probe
from mmstack.models.catalog import BUNDLED_MODELS, OCR_ID, WHISPER_BASE_ID
from mmstack.models.contracts import Transcriber
from mmstack.models.ocr import RapidTextReader, load_text_reader
from mmstack.models.registry import ModelRegistry
from mmstack.models.transcriber import load_whisper, whisper_model_dir

THREADS = os.cpu_count() or 2
GROWTH_CEILING_MB = 300
TOTAL_CEILING_MB = 1536

PHRASES = (
    "The quarterly budget was approved by the finance committee.",
    "Our next release moves the search index to a new storage engine.",
    "Please send the meeting notes to everyone before Friday.",
    "The pelican population on the coast grew again this year.",
    "Customer support answered most questions within one hour.",
)
TOPICS = ("Budget", "Roadmap", "Hiring", "Pelicans", "Support", "Security", "Travel")
WORDS = (
    "the index stores every chunk with its page and section so that answers can cite "
    "where a sentence came from while the worker keeps ingesting new files in the "
    "background and the search combines keywords with vectors for better ranking"
).split()

Samples = npt.NDArray[np.int16]


def models(cache: Path) -> tuple[RapidTextReader, Transcriber]:
    registry = ModelRegistry(BUNDLED_MODELS, cache)
    reader = registry.load(OCR_ID, load_text_reader)
    return reader, load_whisper(registry, cache_dir=cache, threads=THREADS)


# --- inputs -------------------------------------------------------------------------------


def a4_page(number: int) -> Image.Image:
    """An A4 page at 150 dpi: a heading and about 40 lines of running text."""
    page = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(page)
    draw.text((120, 110), f"Chapter {number}: {TOPICS[number % len(TOPICS)]}", fill="black",
              font=ImageFont.load_default(size=44))  # fmt: skip
    font = ImageFont.load_default(size=26)
    y = 220
    for line in range(42):
        start = (number * 7 + line * 5) % len(WORDS)
        words = [WORDS[(start + i) % len(WORDS)] for i in range(11)]
        draw.text((120, y), " ".join(words).capitalize() + ".", fill="black", font=font)
        y += 34
    return page


def speak(text: str) -> Samples:
    out = subprocess.run(["espeak-ng", "--stdout", text], check=True, capture_output=True)
    with wave.open(io.BytesIO(out.stdout), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def speech_track(seconds: int, every: float, rate: int = 22_050) -> Iterator[Samples]:
    """One second at a time: a phrase every `every` seconds, silence between."""
    spoken = [speak(p) for p in PHRASES]
    longest = max(len(s) for s in spoken)
    step = every * rate
    for second in range(seconds):
        begin, end = second * rate, (second + 1) * rate
        chunk = np.zeros(rate, dtype=np.int16)
        for index in range(max(0, int((begin - longest) // step)), int(end // step) + 1):
            at = round(index * step)
            phrase = spoken[index % len(spoken)]
            lo, hi = max(begin, at), min(end, at + len(phrase))
            if lo < hi:
                chunk[lo - begin : hi - begin] = phrase[lo - at : hi - at]
        yield chunk


def write_recording(path: Path, minutes: int, *, with_video: bool, fps: int = 15) -> Path:
    """A recording made a second at a time (so it never sits in memory): speech every 15 s
    and, with video, a slide of text per minute."""
    seconds = minutes * 60
    rate = 22_050
    with av.open(str(path), "w") as out:
        picture = None
        if with_video:
            picture = out.add_stream("libx264", rate=fps)
            assert isinstance(picture, av.VideoStream)
            picture.width, picture.height, picture.pix_fmt = 640, 360, "yuv420p"
        sound = out.add_stream("aac", rate=rate, layout="mono")
        assert isinstance(sound, av.AudioStream)
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate)
        frame = None
        for second, samples in enumerate(speech_track(seconds, every=15.0, rate=rate)):
            if picture is not None:
                if second % 60 == 0:
                    frame = av.VideoFrame.from_ndarray(
                        np.asarray(slide(second // 60)), format="rgb24"
                    )
                assert frame is not None
                for n in range(fps):
                    frame.pts, frame.time_base = second * fps + n, Fraction(1, fps)
                    out.mux(picture.encode(frame))
            chunk = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            chunk.sample_rate = rate
            for converted in resampler.resample(chunk):
                converted.pts = None
                out.mux(sound.encode(converted))
        if picture is not None:
            out.mux(picture.encode(None))
        for converted in resampler.resample(None):
            converted.pts = None
            out.mux(sound.encode(converted))
        out.mux(sound.encode(None))
    return path


def slide(number: int) -> Image.Image:
    image = Image.new("RGB", (640, 360), "white")
    draw = ImageDraw.Draw(image)
    topic = TOPICS[number % len(TOPICS)]
    draw.text((40, 30), f"{number + 1}. {topic}", fill="navy", font=ImageFont.load_default(size=40))
    font = ImageFont.load_default(size=24)
    for line in range(4):
        words = WORDS[(number * 3 + line * 6) % 30 :][:6]
        draw.text((60, 120 + line * 50), "- " + " ".join(words), fill="black", font=font)
    return image


# --- measures -----------------------------------------------------------------------------


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def ocr_rows(reader: RapidTextReader, workdir: Path, pages: int) -> list[list[str]]:
    images = [a4_page(n) for n in range(pages)]
    paths = []
    for n, page in enumerate(images):
        paths.append(workdir / f"page{n}.png")
        page.save(paths[-1])
    lines = len(reader.read(images[0]))  # also the warm-up: sessions and arenas
    raw = parsed = 0.0
    context = ParseContext(ocr=reader)
    for page, path in zip(images, paths, strict=True):
        started = time.perf_counter()
        reader.read(page)
        raw += time.perf_counter() - started
        started = time.perf_counter()
        image.parse(path, filename=path.name, context=context)
        parsed += time.perf_counter() - started
    return [
        [f"OCR, {pages} A4 pages (1240x1754, {lines} lines read on the first)", "", ""],
        ["  RapidOCR alone", f"{pages / raw:.2f} pages/s", "1.00 (baseline)"],
        ["  image.parse", f"{pages / parsed:.2f} pages/s", f"{raw / parsed:.2f} (target 0.9)"],
    ]


def audio_rows(transcriber: Transcriber, cache: Path, workdir: Path) -> list[list[str]]:
    path = write_recording(workdir / "speech.m4a", 3, with_video=False)
    seconds = probe_audio(path).duration
    from faster_whisper import WhisperModel  # type: ignore[import-untyped]

    registry = ModelRegistry(BUNDLED_MODELS, cache)
    folder = whisper_model_dir(registry.paths(WHISPER_BASE_ID), cache, WHISPER_BASE_ID)
    model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=THREADS)

    def alone() -> None:
        segments, _ = model.transcribe(str(path), beam_size=5, vad_filter=True)
        list(segments)

    raw = timed(alone)
    context = ParseContext(transcriber=transcriber)
    parsed = timed(lambda: audio.parse(path, filename=path.name, context=context))
    return [
        [f"speech, {seconds / 60:.0f} min espeak-ng recording (AAC)", "", ""],
        ["  faster-whisper alone", f"RTF {raw / seconds:.3f}", "1.00 (baseline)"],
        ["  audio.parse", f"RTF {parsed / seconds:.3f}", f"{raw / parsed:.2f} (target 0.8)"],
    ]


def decode_picture(path: Path) -> None:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass


def video_rows(reader: RapidTextReader, path: Path) -> list[list[str]]:
    minutes = probe(path, max_pixels=ParseContext().limits.max_image_pixels).duration or 0.0
    minutes /= 60
    decoded = timed(lambda: decode_picture(path))
    context = ParseContext(ocr=reader)
    parsed = timed(lambda: video.parse(path, filename=path.name, context=context))
    return [
        [f"video, {minutes:.0f} min 640x360 15 fps H.264 + AAC", "", ""],
        ["  PyAV decoding the picture alone", f"{minutes / decoded * 60:.1f} min/min",
         "1.00 (baseline)"],
        ["  video.parse, frames and OCR", f"{minutes / parsed * 60:.1f} min/min",
         f"{decoded / parsed:.2f}"],
    ]  # fmt: skip


@contextmanager
def rss_sampler(every: float = 0.02) -> Iterator[list[int]]:
    """Samples of this process's RSS (bytes) taken in a thread while the block runs."""
    process = psutil.Process()
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(process.memory_info().rss)
            done.wait(every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()


def ingest_child(path: Path, cache: Path) -> None:
    """Runs in its own process: loads the models, ingests the video, prints a JSON line."""
    reader, transcriber = models(cache)
    # Both models allocate their working memory on first use: warm them up first, so the
    # growth measured is what ingesting this file costs.
    reader.read(a4_page(0))
    warm_up = path.with_name("warm-up.wav")
    with wave.open(str(warm_up), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(22_050)
        out.writeframes(speak(PHRASES[0]).tobytes())
    list(transcriber.transcribe(warm_up))
    loaded = psutil.Process().memory_info().rss
    marks: list[tuple[float, float]] = []
    context = ParseContext(
        ocr=reader,
        transcriber=transcriber,
        progress=lambda share: marks.append((time.perf_counter(), share)),
    )
    with rss_sampler() as samples:
        started = time.perf_counter()
        document = video.parse(path, filename=path.name, context=context)
        seconds = time.perf_counter() - started
    frames_done = next(t for t, share in marks if share >= video.FRAMES_SHARE) - started
    result: dict[str, Any] = {
        "seconds": seconds,
        "frames_seconds": frames_done,
        "loaded_rss": loaded,
        "peak_rss": max(samples),
        "elements": len(document.elements),
        "speech": sum(1 for e in document.elements if e.source is TextSource.SPEECH),
        "keyframes": document.metadata["keyframes"],
    }
    print(json.dumps(result))


def memory_rows(path: Path, cache: Path) -> list[list[str]]:
    child = subprocess.run(
        [sys.executable, "-m", "bench.media", "--ingest-child", str(path), "--cache", str(cache)],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    max_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    minutes = (probe(path, max_pixels=ParseContext().limits.max_image_pixels).duration or 0.0) / 60
    mb = 1024 * 1024
    growth = (result["peak_rss"] - result["loaded_rss"]) / mb
    frames_share = result["frames_seconds"] / result["seconds"]
    return [
        [f"whole ingestion of the {minutes:.0f} min video (child process)",
         f"{result['keyframes']} keyframes, {result['speech']} speech segments", ""],
        ["  video.parse, OCR and Whisper", f"{minutes / result['seconds'] * 60:.1f} min/min", ""],
        ["  time in the frame pass", f"{frames_share:.2f} of the total",
         f"FRAMES_SHARE {video.FRAMES_SHARE}"],
        ["  RSS with the models loaded", f"{result['loaded_rss'] / mb:.0f} MB", ""],
        ["  peak RSS while ingesting", f"{result['peak_rss'] / mb:.0f} MB (ru_maxrss "
         f"{max_rss_mb:.0f} MB)", f"ceiling {TOTAL_CEILING_MB} MB"],
        ["  growth while ingesting", f"{growth:.0f} MB", f"ceiling {GROWTH_CEILING_MB} MB"],
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=30, help="length of the video")
    parser.add_argument("--pages", type=int, default=4, help="A4 pages for the OCR figure")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=None, help="models cache directory")
    parser.add_argument("--ingest-child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mmstack-bench-media-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cache = args.cache or workdir / "models"
    if args.ingest_child is not None:
        ingest_child(args.ingest_child, cache)
        return
    reader, transcriber = models(cache)
    rows = ocr_rows(reader, workdir, args.pages)
    rows += audio_rows(transcriber, cache, workdir)
    started = time.perf_counter()
    recording = write_recording(workdir / "talk.mp4", args.minutes, with_video=True)
    print(f"made a {args.minutes} min video in {time.perf_counter() - started:.0f} s")
    rows += video_rows(reader, recording)
    rows += memory_rows(recording, cache)
    print()
    print_table(["measure", "value", "ratio to baseline / ceiling"], rows)


if __name__ == "__main__":
    main()
