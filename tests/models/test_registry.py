from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mmstack.models.catalog import BUNDLED_MODELS, MINILM_ID, load_onnx_embedder
from mmstack.models.registry import (
    LocalFile,
    ModelRegistry,
    ModelSpec,
    ModelUnavailableError,
    SplitFile,
)


@pytest.fixture
def split_package(tmp_path: Path) -> Iterator[tuple[list[tuple[str, str]], bytes]]:
    """Two importable packages holding the parts of one file, like the LLM wheels."""
    payload = bytes(range(256)) * 5000
    parts = [payload[:400_000], payload[400_000:900_000], payload[900_000:]]
    root = tmp_path / "site"
    refs = []
    for n, part in enumerate(parts):
        package = f"mmstack_test_part{n}_{tmp_path.name[-6:]}".replace("-", "_")
        data = root / package / "data"
        data.mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        (data / f"part{n:02d}.bin").write_bytes(part)
        refs.append((package, f"data/part{n:02d}.bin"))
    sys.path.insert(0, str(root))
    yield refs, payload
    sys.path.remove(str(root))


def _spec(source: SplitFile | LocalFile, model_id: str = "joined") -> ModelSpec:
    return ModelSpec(id=model_id, task="llm", description="test", files={"model": source})


def test_split_parts_are_joined_once_and_verified(
    tmp_path: Path, split_package: tuple[list[tuple[str, str]], bytes]
) -> None:
    refs, payload = split_package
    digest = hashlib.sha256(payload).hexdigest()
    registry = ModelRegistry([_spec(SplitFile(tuple(refs), sha256=digest))], tmp_path / "cache")
    path = registry.paths("joined")["model"]
    assert path.read_bytes() == payload
    assert path.is_relative_to(tmp_path / "cache")
    mtime = path.stat().st_mtime_ns
    assert ModelRegistry(registry.specs(), tmp_path / "cache").paths("joined")["model"] == path
    assert path.stat().st_mtime_ns == mtime  # not joined again


def test_split_parts_with_wrong_checksum_are_rejected(
    tmp_path: Path, split_package: tuple[list[tuple[str, str]], bytes]
) -> None:
    refs, _ = split_package
    registry = ModelRegistry([_spec(SplitFile(tuple(refs), sha256="0" * 64))], tmp_path / "cache")
    with pytest.raises(ModelUnavailableError, match="sha256 mismatch"):
        registry.paths("joined")
    assert not (tmp_path / "cache" / "joined" / "model").exists()


def test_local_file_corruption_is_detected_by_verify(tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"original")
    spec = _spec(LocalFile(weights, sha256=hashlib.sha256(b"original").hexdigest()), "local")
    registry = ModelRegistry([spec], tmp_path / "cache")
    assert registry.status("local").available
    weights.write_bytes(b"tampered")
    status = registry.status("local", full=True)
    assert not status.available
    assert "sha256 mismatch" in status.detail


def test_unknown_model_and_missing_package(tmp_path: Path) -> None:
    registry = ModelRegistry(BUNDLED_MODELS, tmp_path)
    with pytest.raises(ModelUnavailableError, match="unknown model 'nope'"):
        registry.paths("nope")
    missing = _spec(SplitFile((("no_such_package_xyz", "a.bin"),)), "missing")
    registry.add(missing)
    absent = registry.status("missing")
    assert "not installed" in absent.detail
    assert not absent.installed  # absent, not broken: `models verify` lists it, passes


def test_a_corrupt_model_is_installed_but_not_available(tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"tampered")
    registry = ModelRegistry([_spec(LocalFile(weights, sha256="0" * 64), "bad")], tmp_path)
    status = registry.status("bad", full=True)
    assert (status.installed, status.available) == (True, False)  # `models verify` fails


def test_bundled_embedder_loads_once_and_embeds(tmp_path: Path) -> None:
    registry = ModelRegistry(BUNDLED_MODELS, tmp_path)
    assert registry.status(MINILM_ID, full=True).verified

    def loader(spec: ModelSpec, paths: dict[str, Path]):  # type: ignore[no-untyped-def]
        return load_onnx_embedder(spec, paths, max_tokens=128, batch_size=4, threads=1)

    first = registry.load(MINILM_ID, loader, options=("test", 128))
    again = ModelRegistry(BUNDLED_MODELS, tmp_path / "other").load(
        MINILM_ID, loader, options=("test", 128)
    )
    assert first is again
    vectors = first.embed(
        ["A man is eating food.", "A man is eating a piece of bread.", "The girl carries a baby."]
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > 0.6 > unrelated
