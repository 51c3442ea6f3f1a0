"""The OpenAPI document as the API behaves: every error is OpenAI's shape
(`{"error": {...}}`), a request that fails validation is 400 (FastAPI documents 422, which
this API never sends), and any operation may answer with another error status (401
without credentials, 404 for what is not there or not yours, 409, 413, 429...)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    components["Error"] = ERROR_SCHEMA
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["400"] = {"description": "Invalid request", "content": _ERROR_CONTENT}
            responses["default"] = {
                "description": "An error (401, 403, 404, 409, 413, 429, 5xx...)",
                "content": _ERROR_CONTENT,
            }
    return schema


# Pydantic's names of numeric bounds that it leaves in a schema it cannot fold them into
# (`JsonInt | None`: the bound sits on the union), and JSON Schema's names for them.
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def json_schema_bounds(node: Any) -> Any:
    """The document with every numeric schema's bounds under JSON Schema's names, so that
    clients and testers read them (`minimum: 0`, not an unknown `ge: 0`)."""
    if isinstance(node, list):
        return [json_schema_bounds(item) for item in node]
    if not isinstance(node, dict):
        return node
    numeric = node.get("type") in ("integer", "number")
    return {
        (_BOUNDS[key] if numeric and key in _BOUNDS else key): json_schema_bounds(value)
        for key, value in node.items()
    }


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = json_schema_bounds(
                document_errors(
                    get_openapi(
                        title=app.title,
                        version=app.version,
                        summary=app.summary,
                        routes=app.routes,
                    )
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
