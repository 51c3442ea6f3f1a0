#!/usr/bin/env python3
# Longer than 400 lines: one standalone script, so that a container runs it as one file.
"""A stand-in for a Qdrant server's REST API, for tests only. It is not a product.

Where a real Qdrant server cannot run (no binary, no container registry), this script lets
several mmstack processes (API servers, workers) share one vector index over HTTP, so that
`mmstack.index.vector_qdrant.QdrantServerVectorIndex` can be tested through qdrant-client's
REST transport, and a docker-compose deployment can be smoke-tested. Do not deploy it: it is
one process that runs every request one at a time under a lock, its search is qdrant-client's
local mode (an exact scan in Python, meant for small data), and it has no gRPC, TLS,
snapshots, shard keys, cluster or telemetry.

Storage is qdrant-client's local mode: `QdrantClient(path=DIR)` with `--path DIR`, kept
across restarts, or `:memory:` without it. Local mode commits each point to SQLite; the
stand-in switches those databases to SQLite's write-ahead log with `synchronous=NORMAL`, so
what was answered survives the process being killed (not a power cut). Local mode keeps no
payload indexes: the stand-in records the ones created (in `standin_payload_schema.json`
next to local mode's files) and reports them in a collection's `payload_schema` as a server
does, `points` counting the points that hold the field; filters work with or without them.
Collections are always `green` (local mode has no optimizer) with local mode's fixed HNSW,
WAL and optimizer settings; create and update accept those settings and ignore them. Updates
are applied before the answer even without `wait=true`, whose answer says `acknowledged`.

Endpoints served (request and response bodies are those of `qdrant_client.http.models`,
requests are validated by them and refused when they do not parse):

    GET    /                                     version info, not wrapped (as a server)
    GET    /healthz, /livez, /readyz             plain-text probes
    GET    /collections                          list collections
    GET    /collections/{name}                   collection info
    GET    /collections/{name}/exists            {"exists": bool}
    PUT    /collections/{name}                   create (CreateCollection)
    PATCH  /collections/{name}                   update (UpdateCollection)
    DELETE /collections/{name}                   drop
    PUT    /collections/{name}/index             create a payload index (CreateFieldIndex)
    DELETE /collections/{name}/index/{field}     drop a payload index
    PUT    /collections/{name}/points            upsert (PointsList or PointsBatch)
    POST   /collections/{name}/points/delete     delete (PointIdsList or FilterSelector)
    POST   /collections/{name}/points/scroll     scroll (ScrollRequest)
    POST   /collections/{name}/points/count      count (CountRequest)
    POST   /collections/{name}/points/query      query (QueryRequest)

These are what `QdrantServerVectorIndex` uses, plus listing and dropping. Anything else is
a 404 or 405. Answers are wrapped as a server wraps them, `{"result": ..., "status": "ok",
"time": seconds}`, errors as `{"status": {"error": "..."}, "time": seconds}` with a server's
messages: 404 for a missing collection; 400 for what a server refuses (a body that does not
parse or is larger than `--max-request-size-mb`, 32 by default as on a server; a vector of
the wrong dimension; a collection that already exists); 500 for anything else.

With an API key (`--api-key-file PATH`, else the environment variable
`QDRANT__SERVICE__API_KEY`, the real server's setting) every path but `/`, `/healthz`,
`/readyz` and `/livez` needs it, in the `api-key` header or as `Authorization: Bearer KEY`;
otherwise the answer is a plain-text 401, as from a server. No read-only keys, no JWT.

    python tests/standins/qdrant_server.py --host 127.0.0.1 --port 6333 \
        [--path DIR] [--api-key-file F]
"""

from __future__ import annotations

import argparse
import hmac
import importlib.metadata
import json
import logging
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from pydantic import BaseModel, TypeAdapter, ValidationError
from qdrant_client import QdrantClient, models
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

API_KEY_ENV = "QDRANT__SERVICE__API_KEY"
MAX_REQUEST_SIZE_ENV = "QDRANT__SERVICE__MAX_REQUEST_SIZE_MB"
DEFAULT_MAX_REQUEST_SIZE_MB = 32  # a server's default
SCHEMA_FILE = "standin_payload_schema.json"
TITLE = "qdrant - vector search engine"
# Paths a server answers without an API key: exact ones, then prefixes.
_OPEN_PATHS = ("/", "/healthz")
_OPEN_PREFIXES = ("/readyz", "/livez")

log = logging.getLogger("qdrant_standin")

M = TypeVar("M")

_INSERT = TypeAdapter[models.PointInsertOperations](models.PointInsertOperations)
_SELECTOR = TypeAdapter[models.PointsSelector](models.PointsSelector)


class ApiError(Exception):
    """An error a server answers with its status code and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _not_found(collection: str) -> ApiError:
    return ApiError(404, f"Not found: Collection `{collection}` doesn't exist!")


def _wrong_input(message: str) -> ApiError:
    prefix = "Wrong input: "
    return ApiError(400, message if message.startswith(prefix) else prefix + message)


class Storage:
    """qdrant-client's local mode, one call at a time, plus the payload indexes it does not
    keep. Local mode is not thread-safe: every call holds the lock."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._operation_id = 0
        # The lock serializes every call, so local mode's SQLite connections may be used
        # from the server's worker threads.
        self._client = QdrantClient(
            location=None if path is not None else ":memory:",
            path=str(path) if path is not None else None,
            force_disable_check_same_thread=True,
        )
        for collection in self._client.get_collections().collections:
            self._tune_sqlite(collection.name)
        self._schema_path = path / SCHEMA_FILE if path is not None else None
        self._schemas: dict[str, dict[str, dict[str, Any]]] = {}
        if self._schema_path is not None and self._schema_path.exists():
            self._schemas = json.loads(self._schema_path.read_text())

    def close(self) -> None:
        with self._lock:
            self._client.close()

    def run(self, fn: Callable[[], M]) -> M:
        with self._lock, warnings.catch_warnings():
            # Local mode warns that payload indexes have no effect; the stand-in keeps them.
            warnings.simplefilter("ignore")
            try:
                return fn()
            except ApiError:
                raise
            except (ValueError, ValidationError) as exc:
                raise _wrong_input(str(exc)) from exc

    # --- collections (call under the lock, through `run`) ---------------------------------

    def require(self, collection: str) -> None:
        if not self._client.collection_exists(collection):
            raise _not_found(collection)

    def exists(self, collection: str) -> models.CollectionExistence:
        return models.CollectionExistence(exists=self._client.collection_exists(collection))

    def collections(self) -> models.CollectionsResponse:
        return self._client.get_collections()

    def info(self, collection: str) -> models.CollectionInfo:
        self.require(collection)
        info = self._client.get_collection(collection)
        info.payload_schema = {
            field: models.PayloadIndexInfo(
                data_type=models.PayloadSchemaType(schema["data_type"]),
                params=schema.get("params"),
                points=self._points_with(collection, field),
            )
            for field, schema in self._schemas.get(collection, {}).items()
        }
        return info

    def create(self, collection: str, body: models.CreateCollection) -> bool:
        if self._client.collection_exists(collection):
            raise _wrong_input(f"Collection `{collection}` already exists!")
        # Local mode has no shards, HNSW, WAL, optimizers or quantization to configure.
        self._client.create_collection(
            collection,
            vectors_config=body.vectors,
            sparse_vectors_config=body.sparse_vectors,
            metadata=body.metadata,
        )
        self._tune_sqlite(collection)
        self._set_schema(collection, None)
        return True

    def update(self, collection: str, body: models.UpdateCollection) -> bool:
        self.require(collection)
        self._client.update_collection(
            collection,
            vectors_config=body.vectors,
            sparse_vectors_config=body.sparse_vectors,
            metadata=body.metadata,
        )
        return True

    def drop(self, collection: str) -> bool:
        existed = self._client.delete_collection(collection)
        self._set_schema(collection, None)
        return existed

    def create_index(self, collection: str, body: models.CreateFieldIndex) -> models.UpdateResult:
        self.require(collection)
        schema = body.field_schema
        if schema is None:
            raise _wrong_input(
                "Can't auto-detect field type, please specify `field_schema` in the request"
            )
        self._client.create_payload_index(collection, body.field_name, field_schema=schema)
        if isinstance(schema, models.PayloadSchemaType):
            entry: dict[str, Any] = {"data_type": schema.value}
        else:
            entry = {
                "data_type": schema.type.value,
                "params": schema.model_dump(mode="json", exclude_none=True),
            }
        fields = dict(self._schemas.get(collection, {}))
        fields[body.field_name] = entry
        self._set_schema(collection, fields)
        return self._updated()

    def drop_index(self, collection: str, field: str) -> models.UpdateResult:
        self.require(collection)
        self._client.delete_payload_index(collection, field)
        fields = dict(self._schemas.get(collection, {}))
        fields.pop(field, None)
        self._set_schema(collection, fields)
        return self._updated()

    # --- points ----------------------------------------------------------------------------

    def upsert(self, collection: str, body: models.PointInsertOperations) -> models.UpdateResult:
        self.require(collection)
        points: models.Batch | list[models.PointStruct]
        points = body.batch if isinstance(body, models.PointsBatch) else body.points
        self._client.upsert(
            collection,
            points=points,
            update_filter=body.update_filter,
            update_mode=body.update_mode,
        )
        return self._updated()

    def delete(self, collection: str, body: models.PointsSelector) -> models.UpdateResult:
        self.require(collection)
        self._client.delete(collection, points_selector=body)
        return self._updated()

    def scroll(self, collection: str, body: models.ScrollRequest) -> models.ScrollResult:
        self.require(collection)
        records, next_offset = self._client.scroll(
            collection,
            scroll_filter=body.filter,
            limit=body.limit if body.limit is not None else 10,
            order_by=body.order_by,
            offset=body.offset,
            with_payload=body.with_payload if body.with_payload is not None else True,
            with_vectors=body.with_vector if body.with_vector is not None else False,
        )
        return models.ScrollResult(points=records, next_page_offset=next_offset)

    def count(self, collection: str, body: models.CountRequest) -> models.CountResult:
        self.require(collection)
        return self._client.count(collection, count_filter=body.filter, exact=True)

    def query(self, collection: str, body: models.QueryRequest) -> models.QueryResponse:
        self.require(collection)
        return self._client.query_points(
            collection,
            query=body.query,
            using=body.using,
            prefetch=body.prefetch,
            query_filter=body.filter,
            search_params=body.params,
            limit=body.limit if body.limit is not None else 10,
            offset=body.offset,
            with_payload=body.with_payload if body.with_payload is not None else False,
            with_vectors=body.with_vector if body.with_vector is not None else False,
            score_threshold=body.score_threshold,
            lookup_from=body.lookup_from,
        )

    # --- helpers ---------------------------------------------------------------------------

    def _updated(self) -> models.UpdateResult:
        self._operation_id += 1
        return models.UpdateResult(
            operation_id=self._operation_id, status=models.UpdateStatus.COMPLETED
        )

    def _tune_sqlite(self, collection: str) -> None:
        """Local mode commits each point to SQLite, by default with a full sync to disk, which
        makes an upsert of a few hundred points take seconds. SQLite's write-ahead log with
        `synchronous=NORMAL` still keeps every commit when the process is killed (not on a
        power cut) and is about ten times faster. Reaches into local mode's internals; does
        nothing if they are not what they were in qdrant-client 1.20."""
        local = getattr(self._client, "_client", None)
        stored = getattr(local, "collections", {}).get(collection)
        conn = getattr(getattr(stored, "storage", None), "storage", None)
        if isinstance(conn, sqlite3.Connection):
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")

    def _points_with(self, collection: str, field: str) -> int:
        holds = models.Filter(
            must_not=[models.IsEmptyCondition(is_empty=models.PayloadField(key=field))]
        )
        return self._client.count(collection, count_filter=holds, exact=True).count

    def _set_schema(self, collection: str, fields: dict[str, dict[str, Any]] | None) -> None:
        if fields is None:
            self._schemas.pop(collection, None)
        else:
            self._schemas[collection] = fields
        if self._schema_path is not None:
            tmp = self._schema_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._schemas))
            os.replace(tmp, self._schema_path)


# --- HTTP ----------------------------------------------------------------------------------


def _jsonable(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", exclude_none=True)
    return result


def _error(status: int, message: str, started: float) -> JSONResponse:
    body = {"status": {"error": message}, "time": time.perf_counter() - started}
    return JSONResponse(body, status_code=status)


Endpoint = Callable[[Request], Awaitable[Any]]


def _qdrant_endpoint(fn: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """Wraps a handler's result (or its `ApiError`) in the server's envelope."""

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        try:
            result = await fn(request)
        except ApiError as exc:
            return _error(exc.status, exc.message, started)
        except Exception as exc:
            log.exception("%s %s failed", request.method, request.url.path)
            return _error(500, f"Service internal error: {exc}", started)
        elapsed = time.perf_counter() - started
        return JSONResponse({"result": _jsonable(result), "status": "ok", "time": elapsed})

    return endpoint


def build_app(
    storage: Storage,
    api_key: str | None = None,
    max_request_size_mb: int = DEFAULT_MAX_REQUEST_SIZE_MB,
) -> ASGIApp:
    """The Starlette app serving `storage`; `api_key` guards all but the open paths."""
    limit = max_request_size_mb * 1024 * 1024

    async def call(fn: Callable[[], M]) -> M:
        return await run_in_threadpool(storage.run, fn)

    async def _body(request: Request, adapter: TypeAdapter[M]) -> M:
        raw = await request.body()
        if len(raw) > limit:
            message = (
                f"JSON payload ({len(raw)} bytes) is larger than allowed (limit: {limit} bytes)."
            )
            raise ApiError(400, message)
        try:
            return adapter.validate_json(raw or b"{}")
        except ValidationError as exc:
            raise ApiError(400, f"Format error in JSON body: {exc}") from exc

    def waited(request: Request, result: models.UpdateResult) -> models.UpdateResult:
        # Applied either way; a server without `wait=true` answers before applying.
        if request.query_params.get("wait") != "true":
            result.status = models.UpdateStatus.ACKNOWLEDGED
        return result

    def name(request: Request) -> str:
        return str(request.path_params["name"])

    def adapter(model: type[M]) -> TypeAdapter[M]:
        return TypeAdapter(model)

    create_body = adapter(models.CreateCollection)
    update_body = adapter(models.UpdateCollection)
    index_body = adapter(models.CreateFieldIndex)
    scroll_body = adapter(models.ScrollRequest)
    count_body = adapter(models.CountRequest)
    query_body = adapter(models.QueryRequest)

    async def root(request: Request) -> Response:
        version = importlib.metadata.version("qdrant-client")
        return JSONResponse({"title": TITLE, "version": version, "commit": "standin"})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("healthz check passed")

    async def readyz(request: Request) -> Response:
        return PlainTextResponse("all shards are ready")

    async def list_collections(request: Request) -> Any:
        return await call(storage.collections)

    async def get_collection(request: Request) -> Any:
        collection = name(request)
        return await call(lambda: storage.info(collection))

    async def collection_exists(request: Request) -> Any:
        collection = name(request)
        return await call(lambda: storage.exists(collection))

    async def create_collection(request: Request) -> Any:
        collection, body = name(request), await _body(request, create_body)
        return await call(lambda: storage.create(collection, body))

    async def update_collection(request: Request) -> Any:
        collection, body = name(request), await _body(request, update_body)
        return await call(lambda: storage.update(collection, body))

    async def delete_collection(request: Request) -> Any:
        collection = name(request)
        return await call(lambda: storage.drop(collection))

    async def create_index(request: Request) -> Any:
        collection, body = name(request), await _body(request, index_body)
        return waited(request, await call(lambda: storage.create_index(collection, body)))

    async def delete_index(request: Request) -> Any:
        collection, field = name(request), str(request.path_params["field"])
        return waited(request, await call(lambda: storage.drop_index(collection, field)))

    async def upsert(request: Request) -> Any:
        collection, body = name(request), await _body(request, _INSERT)
        return waited(request, await call(lambda: storage.upsert(collection, body)))

    async def delete(request: Request) -> Any:
        collection, body = name(request), await _body(request, _SELECTOR)
        return waited(request, await call(lambda: storage.delete(collection, body)))

    async def scroll(request: Request) -> Any:
        collection, body = name(request), await _body(request, scroll_body)
        return await call(lambda: storage.scroll(collection, body))

    async def count(request: Request) -> Any:
        collection, body = name(request), await _body(request, count_body)
        return await call(lambda: storage.count(collection, body))

    async def query(request: Request) -> Any:
        collection, body = name(request), await _body(request, query_body)
        return await call(lambda: storage.query(collection, body))

    def route(path: str, fn: Endpoint, method: str) -> Route:
        return Route(path, _qdrant_endpoint(fn), methods=[method])

    c = "/collections/{name}"
    routes = [
        Route("/", root, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/livez", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        route("/collections", list_collections, "GET"),
        route(c, get_collection, "GET"),
        route(c, create_collection, "PUT"),
        route(c, update_collection, "PATCH"),
        route(c, delete_collection, "DELETE"),
        route(c + "/exists", collection_exists, "GET"),
        route(c + "/index", create_index, "PUT"),
        route(c + "/index/{field}", delete_index, "DELETE"),
        route(c + "/points", upsert, "PUT"),
        route(c + "/points/delete", delete, "POST"),
        route(c + "/points/scroll", scroll, "POST"),
        route(c + "/points/count", count, "POST"),
        route(c + "/points/query", query, "POST"),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        storage.close()

    app: ASGIApp = Starlette(routes=routes, lifespan=lifespan)
    if api_key:
        app = ApiKeyMiddleware(app, api_key)
    return app


class ApiKeyMiddleware:
    """Refuses a request without the API key, as a server does (401, plain text)."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self._app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES):
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get("api-key")
        if key is None:
            bearer = headers.get("authorization", "")
            key = bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else None
        if key is None:
            message = "Must provide an API key or an Authorization bearer token"
        elif not hmac.compare_digest(key.encode(), self._key):
            message = "Invalid API key or JWT"
        else:
            await self._app(scope, receive, send)
            return
        await PlainTextResponse(message, status_code=401)(scope, receive, send)


def _api_key(path: Path | None) -> str | None:
    key = path.read_text().strip() if path is not None else os.environ.get(API_KEY_ENV, "")
    return key or None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6333)
    parser.add_argument("--path", type=Path, help="storage folder (default: in memory)")
    parser.add_argument(
        "--api-key-file", type=Path, help=f"file holding the API key (default: ${API_KEY_ENV})"
    )
    parser.add_argument(
        "--max-request-size-mb",
        type=int,
        default=int(os.environ.get(MAX_REQUEST_SIZE_ENV, DEFAULT_MAX_REQUEST_SIZE_MB)),
        help=f"largest request body (default: ${MAX_REQUEST_SIZE_ENV} or 32, as a server)",
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper())
    storage = Storage(args.path)
    app = build_app(storage, _api_key(args.api_key_file), args.max_request_size_mb)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
