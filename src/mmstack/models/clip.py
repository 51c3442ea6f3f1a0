"""A CLIP-style image and text embedder on onnxruntime, for text-to-image search.

No such model ships in a package, so this is optional: point `media.clip_model_dir` at a
directory (or `media.clip_hub_id` at a Hub repository, where the deployment is online) with
`visual.onnx` (pixels in, one vector per image out), `textual.onnx` (token ids in, one
vector per text out), `tokenizer.json` (a `tokenizers` tokenizer) and optionally
`preprocess.json` (`image_size`, `mean`, `std`, `context_length`). Both towers must map into
the same space; vectors are L2-normalized here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image
from tokenizers import Tokenizer

from mmstack.arrays import FloatArray

CLIP_FILES = ("visual.onnx", "textual.onnx", "tokenizer.json")
PREPROCESS_FILE = "preprocess.json"


@dataclass(frozen=True, slots=True)
class Preprocess:
    # OpenAI CLIP's defaults.
    image_size: int = 224
    mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)
    context_length: int = 77

    @classmethod
    def read(cls, path: Path | None) -> Preprocess:
        if path is None or not path.is_file():
            return cls()
        raw: dict[str, Any] = json.loads(path.read_text())
        defaults = cls()
        return cls(
            image_size=int(raw.get("image_size", defaults.image_size)),
            mean=tuple(raw.get("mean", defaults.mean)),
            std=tuple(raw.get("std", defaults.std)),
            context_length=int(raw.get("context_length", defaults.context_length)),
        )


class OnnxClipEmbedder:
    def __init__(
        self,
        visual: Path,
        textual: Path,
        tokenizer: Path,
        *,
        preprocess: Preprocess | None = None,
        threads: int | None = None,
        model_id: str = "clip",
    ) -> None:
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        self._visual = ort.InferenceSession(str(visual), options, providers=providers)
        self._textual = ort.InferenceSession(str(textual), options, providers=providers)
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._pre = preprocess or Preprocess()
        self._tokenizer.enable_truncation(self._pre.context_length)
        self._tokenizer.enable_padding(length=self._pre.context_length)
        self.model_id = model_id
        self.dimension = int(self._visual.get_outputs()[0].shape[-1])

    def embed_images(self, images: Sequence[Image.Image]) -> FloatArray:
        pixels = np.stack([self._pixels(image) for image in images])
        (out,) = self._visual.run(None, {self._visual.get_inputs()[0].name: pixels})
        return _normalized(out)

    def embed_texts(self, texts: Sequence[str]) -> FloatArray:
        ids = np.array([e.ids for e in self._tokenizer.encode_batch(list(texts))], dtype=np.int64)
        (out,) = self._textual.run(None, {self._textual.get_inputs()[0].name: ids})
        return _normalized(out)

    def _pixels(self, image: Image.Image) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Shorter side to `image_size` (bicubic), centre crop, scaled and standardized,
        channels first."""
        size = self._pre.image_size
        picture = image.convert("RGB")
        scale = size / min(picture.size)
        width, height = (max(size, round(side * scale)) for side in picture.size)
        picture = picture.resize((width, height), Image.Resampling.BICUBIC)
        left, top = (width - size) // 2, (height - size) // 2
        picture = picture.crop((left, top, left + size, top + size))
        mean = np.array(self._pre.mean, np.float32)
        std = np.array(self._pre.std, np.float32)
        array = (np.asarray(picture, dtype=np.float32) / np.float32(255.0) - mean) / std
        return np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)


def load_clip(paths: dict[str, Path], *, threads: int | None, model_id: str) -> OnnxClipEmbedder:
    """From the registry's paths of a CLIP model (roles named for its files)."""
    return OnnxClipEmbedder(
        paths["visual.onnx"],
        paths["textual.onnx"],
        paths["tokenizer.json"],
        preprocess=Preprocess.read(paths.get(PREPROCESS_FILE)),
        threads=threads,
        model_id=model_id,
    )


def _normalized(vectors: Any) -> FloatArray:
    array = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, 1e-12)  # type: ignore[no-any-return]
