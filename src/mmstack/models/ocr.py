"""OCR with RapidOCR (PP-OCRv6 detection and recognition on onnxruntime).

The model files come from the registry (`OCR_ID`) and are passed to RapidOCR explicitly,
so it never looks for, or downloads, models of its own.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image
from rapidocr import RapidOCR

from mmstack.media.images import READ_MAX_SIDE, flatten, to_rgb
from mmstack.models.contracts import TextLine
from mmstack.models.registry import ModelSpec

DEFAULT_MIN_SCORE = 0.6
"""Recognition confidence under which a line is dropped: such lines are mostly noise read
from textures, edges and pictures."""

_MAX_SIDE = READ_MAX_SIDE  # RapidOCR shrinks larger images to this before detection
# Small images are enlarged towards this shorter side, at most twice. RapidOCR's own rule
# (shorter side to 736 px, however far) blows a 600x100 line up more than seven times: its
# detection then splits words apart, and takes ten times longer.
_SMALL_SIDE = 736
_MAX_UPSCALE = 2.0
_BAND_PIXELS = 1_000_000  # read at a time: about 250 MB of detection
_BAND_OVERLAP = 128  # rows two bands share: the tallest line read whole
_Found = tuple["npt.NDArray[np.float64]", str, float]  # corners, text, score


class RapidTextReader:
    """`TextReader` over RapidOCR. One reader serves one image at a time (a lock): OCR
    already keeps the cores busy, and RapidOCR changes its own settings during a call."""

    def __init__(
        self,
        detection: Path,
        recognition: Path,
        classification: Path,
        *,
        threads: int | None = None,
        min_score: float = DEFAULT_MIN_SCORE,
        classify_angle: bool = False,
    ) -> None:
        """`classify_angle` turns lines the classifier finds upside down before reading
        them. Off by default: on upright printed text the bundled classifier calls about
        one line in six upside down, and those lines come out as gibberish."""
        self._min_score = min_score
        self._lock = threading.Lock()
        onnx = "EngineConfig.onnxruntime"
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.text_score": min_score,
            "Global.use_cls": classify_angle,
            "Det.model_path": str(detection),
            "Rec.model_path": str(recognition),
            "Cls.model_path": str(classification),
            "Det.limit_type": "max",
            "Det.limit_side_len": _MAX_SIDE,
            f"{onnx}.intra_op_num_threads": threads or -1,
            f"{onnx}.inter_op_num_threads": 1,
        }
        self._engine = RapidOCR(params=params)  # sets RapidOCR's logger to the level above

    def read(self, image: Image.Image) -> list[TextLine]:
        """The lines of text in `image` (any mode; transparency reads as white), in reading
        order, with boxes in its pixels."""
        width, height = image.size
        if not width or not height:
            return []
        # Made small before it is made RGB: a grey picture's RGB copy is three times its size.
        work = flatten(image)
        scale = _working_scale(width, height)
        if scale != 1:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            work = work.resize(size, Image.Resampling.BICUBIC)
        # RapidOCR expects OpenCV's BGR channel order for arrays.
        pixels = np.ascontiguousarray(np.asarray(to_rgb(work))[:, :, ::-1])
        with self._lock:  # the bands of one image, then the next image
            found = [
                line for band in _bands(*pixels.shape[:2]) for line in self._read(pixels, band)
            ]
        lines = [
            TextLine(text, _box(corners, scale, width, height), score)
            for corners, text, score in found
        ]
        return reading_order(lines)

    def _read(self, pixels: npt.NDArray[np.uint8], band: _Band) -> list[_Found]:
        """The lines read in `band` that it keeps, corners in the whole working image."""
        result = self._engine(pixels[band.top : band.bottom])
        boxes = getattr(result, "boxes", None)
        texts = getattr(result, "txts", None)
        scores = getattr(result, "scores", None)
        if boxes is None or texts is None or scores is None:
            return []
        found = []
        for quad, text, score in zip(boxes, texts, scores, strict=True):
            text = " ".join(str(text).split())
            if not text or float(score) < self._min_score:
                continue
            corners = np.asarray(quad, dtype=np.float64).reshape(-1, 2) + np.array([0, band.top])
            if band.keeps(float(corners[:, 1].mean())):
                found.append((corners, text, round(float(score), 4)))
        return found


@dataclass(frozen=True, slots=True)
class _Band:
    """Rows `top` to `bottom` of the working image, read on their own; a line read there
    is kept if its middle falls between `keep_from` and `keep_to` (the bands overlap, and
    the neighbour reads a line near the edge whole)."""

    top: int
    bottom: int
    keep_from: float
    keep_to: float

    def keeps(self, middle: float) -> bool:
        return self.keep_from <= middle < self.keep_to


def _bands(height: int, width: int) -> list[_Band]:
    """Bands of rows covering the image, each at most `_BAND_PIXELS` (but `_BAND_OVERLAP`
    rows at least twice over), overlapping by `_BAND_OVERLAP` rows or more: a line up to
    that tall lies whole inside the band that keeps it. Detection's memory grows with the
    pixels it is given (about 250 MB a megapixel), so a large page is read in bands."""
    rows = max(_BAND_PIXELS // max(width, 1), 2 * _BAND_OVERLAP)
    if height <= rows:
        return [_Band(0, height, -math.inf, math.inf)]
    count = math.ceil((height - _BAND_OVERLAP) / (rows - _BAND_OVERLAP))
    tops = [round(i * (height - rows) / (count - 1)) for i in range(count)]
    # Between two neighbours, the middle of their overlap decides which keeps a line.
    edges = [(tops[i + 1] + tops[i] + rows) / 2 for i in range(count - 1)]
    bounds = [-math.inf, *edges, math.inf]
    return [_Band(top, top + rows, bounds[i], bounds[i + 1]) for i, top in enumerate(tops)]


def _working_scale(width: int, height: int) -> float:
    """How much to resize an image before OCR: large ones down to RapidOCR's working size
    (cheaper here, with Pillow, than inside it), small ones up a little."""
    if max(width, height) > _MAX_SIDE:
        return _MAX_SIDE / max(width, height)
    enlarge = min(_SMALL_SIDE / min(width, height), _MAX_SIDE / max(width, height))
    return min(max(1.0, enlarge), _MAX_UPSCALE)


def _box(
    corners: npt.NDArray[np.float64], scale: float, width: int, height: int
) -> tuple[int, int, int, int]:
    """The axis-aligned box around a detected quadrilateral (its corners in the working
    image), in the pixels of the image before it was resized by `scale`, clipped to it."""
    points = corners / scale
    left = max(0, int(np.floor(points[:, 0].min())))
    top = max(0, int(np.floor(points[:, 1].min())))
    right = min(width, int(np.ceil(points[:, 0].max())))
    bottom = min(height, int(np.ceil(points[:, 1].max())))
    return left, top, max(left, right), max(top, bottom)


def reading_order(lines: list[TextLine]) -> list[TextLine]:
    """Top to bottom; lines whose vertical centres fall within each other's height are one
    row, read left to right."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=_centre_y):
        centre = _centre_y(line)
        if rows:
            last = rows[-1][-1]
            if last.box[1] <= centre <= last.box[3] and line.box[1] <= _centre_y(last):
                rows[-1].append(line)
                continue
        rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda ln: ln.box[0])]


def _centre_y(line: TextLine) -> float:
    return (line.box[1] + line.box[3]) / 2


def load_text_reader(
    spec: ModelSpec,
    paths: dict[str, Path],
    *,
    threads: int | None = None,
    min_score: float = DEFAULT_MIN_SCORE,
    classify_angle: bool = False,
) -> RapidTextReader:
    """A loader for `ModelRegistry.load(OCR_ID, ...)`."""
    del spec
    return RapidTextReader(
        paths["detection"],
        paths["recognition"],
        paths["classification"],
        threads=threads,
        min_score=min_score,
        classify_angle=classify_angle,
    )
