from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from mmstack.index.model_directory import ServedModel


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str

    @classmethod
    def of(cls, model: ServedModel) -> ModelOut:
        return cls.model_validate(model, from_attributes=True)


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]
