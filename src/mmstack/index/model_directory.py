"""The models the stack serves, as `/v1/models` lists them. The composition root adds each
model it opens (the embedder today; chat models as their backends arrive)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from mmstack.errors import InvalidRequestError, NotFoundError

ModelKind = Literal["embedding", "chat", "speech-to-text"]


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


@dataclass(frozen=True, slots=True)
class ServedModel:
    id: str
    kind: ModelKind
    created: int  # unix seconds
    owned_by: str = "mmstack"


class ModelDirectory:
    def __init__(self, models: Iterable[ServedModel] = ()) -> None:
        self._models: dict[str, ServedModel] = {}
        self._lock = threading.Lock()
        for model in models:
            self.add(model)

    def add(self, model: ServedModel) -> None:
        with self._lock:
            self._models[model.id] = model

    def list(self) -> list[ServedModel]:
        with self._lock:
            return sorted(self._models.values(), key=lambda m: m.id)

    def get(self, model_id: str) -> ServedModel:
        with self._lock:
            model = self._models.get(model_id)
        if model is None:
            raise ModelNotFoundError(
                f"the model '{model_id}' does not exist (GET /v1/models lists the served models)",
                param="model",
            )
        return model

    def require(self, model_id: str, kind: ModelKind) -> ServedModel:
        """The model, which must be of `kind`."""
        model = self.get(model_id)
        if model.kind != kind:
            raise InvalidRequestError(
                f"the model '{model_id}' does not serve {kind} requests "
                f"(it is a {model.kind} model)",
                param="model",
            )
        return model
