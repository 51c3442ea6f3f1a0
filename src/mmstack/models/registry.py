"""The model registry: where each model's files come from, how they are checked, and one
loaded instance per model per process.

A model's files come from an installed package (used in place), from split parts shipped
across several packages (joined once into the cache directory), from a local directory, or
from a hub repository (online deployments only). Every file with a known sha256 is verified
before first use; `verify(full=True)` re-hashes everything.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from mmstack.errors import MMStackError
from mmstack.store.blobs import file_sha256

T = TypeVar("T")

# Loaded models are shared by the whole process: weights are large and read-only.
_LOADED: dict[tuple[object, ...], Any] = {}
_LOADED_LOCK = threading.Lock()


class ModelUnavailableError(MMStackError):
    code = "model_unavailable"


class ModelNotInstalledError(ModelUnavailableError):
    """A package the model comes from is not installed (an optional model, such as the
    tests' small chat model in a production image): absent, not broken."""


def package_dir(package: str) -> Path:
    """The directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(f"package '{package}' is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True, slots=True)
class PackageFile:
    """A file inside an installed package, used where it lies."""

    package: str
    path: str
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class SplitFile:
    """A large file shipped as ordered parts (package, path inside it), joined on first use."""

    parts: tuple[tuple[str, str], ...]
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class LocalFile:
    path: Path
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class HubFile:
    """A file of a Hugging Face Hub repository (needs network and `huggingface_hub`)."""

    repo_id: str
    filename: str
    revision: str | None = None
    sha256: str | None = None


FileSource = PackageFile | SplitFile | LocalFile | HubFile


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    task: Literal["embedding", "llm", "ocr", "speech-to-text", "image-embedding"]
    description: str
    files: dict[str, FileSource]  # role ("model", "tokenizer", ...) -> source
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ModelStatus:
    id: str
    task: str
    description: str
    available: bool
    verified: bool | None
    source: str
    detail: str = ""
    paths: dict[str, str] = field(default_factory=dict)
    installed: bool = True  # False: a package it comes from is absent


def describe_source(source: FileSource) -> str:
    match source:
        case PackageFile(package=package):
            return f"package:{package}"
        case SplitFile(parts=parts):
            packages = sorted({package for package, _ in parts})
            return f"parts:{len(parts)} from {packages[0]}…" if packages else "parts:0"
        case LocalFile(path=path):
            return f"path:{path}"
        case HubFile(repo_id=repo_id):
            return f"hub:{repo_id}"


class ModelRegistry:
    def __init__(self, specs: Sequence[ModelSpec], cache_dir: Path) -> None:
        self._specs = {spec.id: spec for spec in specs}
        self._cache_dir = cache_dir
        self._verified: set[Path] = set()
        self._lock = threading.Lock()

    def specs(self) -> list[ModelSpec]:
        return list(self._specs.values())

    def spec(self, model_id: str) -> ModelSpec:
        try:
            return self._specs[model_id]
        except KeyError:
            known = ", ".join(sorted(self._specs)) or "none"
            raise ModelUnavailableError(
                f"unknown model '{model_id}' (known: {known})", param="model"
            ) from None

    def add(self, spec: ModelSpec) -> None:
        self._specs[spec.id] = spec

    def paths(self, model_id: str) -> dict[str, Path]:
        """Each file of the model on local disk, materialized and verified."""
        spec = self.spec(model_id)
        with self._lock:
            return {role: self._materialize(spec, role, src) for role, src in spec.files.items()}

    def load(
        self,
        model_id: str,
        loader: Callable[[ModelSpec, dict[str, Path]], T],
        *,
        options: tuple[object, ...] = (),
    ) -> T:
        """The model built by `loader`: once per process for the same model files and
        `options` (the loader's settings), however many registries or stacks ask."""
        paths = self.paths(model_id)
        key = (model_id, tuple(sorted((r, str(p)) for r, p in paths.items())), options)
        with _LOADED_LOCK:
            if key not in _LOADED:
                _LOADED[key] = loader(self.spec(model_id), paths)
            return _LOADED[key]  # type: ignore[no-any-return]

    def status(self, model_id: str, *, full: bool = False) -> ModelStatus:
        spec = self.spec(model_id)
        sources = ", ".join(describe_source(s) for s in spec.files.values())
        status = ModelStatus(spec.id, spec.task, spec.description, False, None, sources)
        try:
            if full:
                with self._lock:
                    self._verified.clear()
            status.paths = {role: str(path) for role, path in self.paths(model_id).items()}
            status.available = True
            status.verified = all(s.sha256 for s in spec.files.values()) or None
        except ModelUnavailableError as exc:
            status.detail = exc.message
            status.installed = not isinstance(exc, ModelNotInstalledError)
            status.verified = False if "sha256 mismatch" in exc.message else None
        return status

    def _materialize(self, spec: ModelSpec, role: str, source: FileSource) -> Path:
        match source:
            case PackageFile(package=package, path=rel):
                path = package_dir(package) / rel
            case LocalFile(path=local):
                path = local
            case SplitFile(parts=parts):
                path = self._join_parts(spec.id, role, parts, source.sha256)
            case HubFile():
                path = self._download(source)
        if not path.is_file():
            raise ModelUnavailableError(f"model '{spec.id}': {role} file missing at {path}")
        if source.sha256 and path not in self._verified:
            actual = file_sha256(path)
            if actual != source.sha256:
                raise ModelUnavailableError(
                    f"model '{spec.id}': {role} sha256 mismatch at {path} "
                    f"(expected {source.sha256}, found {actual})"
                )
            self._verified.add(path)
        return path

    def _join_parts(
        self, model_id: str, role: str, parts: tuple[tuple[str, str], ...], sha256: str | None
    ) -> Path:
        target = self._cache_dir / model_id / role
        if target.is_file():
            return target
        part_paths = [package_dir(package) / rel for package, rel in parts]
        for part in part_paths:
            if not part.is_file():
                raise ModelUnavailableError(f"model '{model_id}': part missing at {part}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        digest = hashlib.sha256()
        try:
            with tmp.open("wb") as out:
                for part in part_paths:
                    with part.open("rb") as handle:
                        while block := handle.read(1 << 20):
                            digest.update(block)
                            out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if sha256 and digest.hexdigest() != sha256:
                raise ModelUnavailableError(
                    f"model '{model_id}': joined {role} sha256 mismatch "
                    f"(expected {sha256}, found {digest.hexdigest()})"
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        self._verified.add(target)
        return target

    def _download(self, source: HubFile) -> Path:
        try:
            from huggingface_hub import hf_hub_download
        except ImportError:
            raise ModelUnavailableError(
                f"hub model {source.repo_id} needs the `huggingface_hub` package "
                "and network access; install it or point the model at a local path"
            ) from None
        try:
            local = hf_hub_download(
                source.repo_id,
                source.filename,
                revision=source.revision,
                cache_dir=self._cache_dir / "hub",
            )
        except Exception as exc:  # network and hub errors vary by version
            raise ModelUnavailableError(f"hub model {source.repo_id}: {exc}") from exc
        return Path(local)
