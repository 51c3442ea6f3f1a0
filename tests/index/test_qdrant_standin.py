"""The Qdrant server adapter over HTTP, against the REST stand-in (tests/standins).

The stand-in runs as a separate process with an API key and on-disk storage, as a server
would, and `QdrantServerVectorIndex` talks to it through qdrant-client's REST transport, as
`mmstack.stack.builders.vector_index` builds it. The contract tests of
test_vector_index.py run unchanged against it; the tests below them check the protocol
(envelope, errors, API key) and what a shared server is for: several processes see each
other's writes at once, and the data outlives a crash of the server.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import UnexpectedResponse

from mmstack.index.vector import VectorFilter, VectorIndex, VectorPoint
from mmstack.index.vector_qdrant import QdrantServerVectorIndex
from tests.index import test_vector_index as contract
from tests.index.test_vector_index import DIM, Backend, brute_force, hit_ids, make_points

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "tests" / "standins" / "qdrant_server.py"
START_TIMEOUT_S = 30.0

# A client checks the server's version from a thread of its own; when the test has stopped
# the stand-in before that thread ran, it warns. GET / is tested by itself below.
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version:UserWarning")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Standin:
    """The stand-in as a child process, on one port and one storage folder for its life."""

    def __init__(self, folder: Path, api_key: str) -> None:
        self.api_key = api_key
        self.path = folder / "storage"
        self.key_file = folder / "api-key"
        self.key_file.write_text(api_key + "\n")
        self.log = folder / "standin.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        # For raw REST calls and the tests' housekeeping: a QdrantClient costs ~0.2 s to make.
        self.http = httpx.Client(
            base_url=self.url,
            headers={"api-key": api_key},
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def start(self, *, key_from_env: bool = False) -> None:
        args = [sys.executable, str(SCRIPT), "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--path", str(self.path)]
        env = dict(os.environ)
        env.pop("QDRANT__SERVICE__API_KEY", None)
        if key_from_env:
            env["QDRANT__SERVICE__API_KEY"] = self.api_key
        else:
            args += ["--api-key-file", str(self.key_file)]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                pytest.fail(f"the stand-in exited:\n{self.log.read_text()}")
            try:
                if self.http.get("/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"the stand-in did not get ready:\n{self.log.read_text()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self._process is None:
            return
        self._process.send_signal(sig)
        try:
            self._process.wait(10)
        finally:
            self._process.kill()
            self._process.wait()
            self._process = None

    def close(self) -> None:
        self.stop()
        self.http.close()

    def client(self, api_key: str | None = None) -> QdrantClient:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Api key is used with an insecure connection")
            return QdrantClient(url=self.url, api_key=api_key or self.api_key)

    def index(self, collection: str, dimension: int = DIM) -> QdrantServerVectorIndex:
        client = self.client()
        try:
            return QdrantServerVectorIndex(client, collection, dimension)
        except BaseException:
            client.close()
            raise


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standin]:
    server = Standin(tmp_path_factory.mktemp("standin"), secrets.token_urlsafe(16))
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def shared_client(standin: Standin) -> Iterator[QdrantClient]:
    """One client for the contract tests, as a long-lived process has: making one costs
    ~0.2 s. The index closes its client, so the contract's indexes are never closed."""
    client = standin.client()
    yield client
    client.close()


class StandinBackend(Backend):
    """Indexes in a collection of their own on the stand-in, through one client."""

    def __init__(self, server: Standin, client: QdrantClient, tmp_path: Path) -> None:
        super().__init__("standin", tmp_path)
        self.server = server
        self.shared_client = client
        self.collection = f"chunks_{secrets.token_hex(4)}"

    def open(self, dimension: int = DIM) -> VectorIndex:
        return QdrantServerVectorIndex(self.shared_client, self.collection, dimension)

    def reopen(self, index: VectorIndex, dimension: int = DIM) -> VectorIndex:
        return self.open(dimension)

    def close_all(self) -> None:
        self.server.http.delete(f"/collections/{self.collection}").raise_for_status()


@pytest.fixture
def backend(standin: Standin, shared_client: QdrantClient, tmp_path: Path) -> Iterator[Backend]:
    b = StandinBackend(standin, shared_client, tmp_path)
    yield b
    b.close_all()


@pytest.fixture
def points() -> list[VectorPoint]:
    return make_points()


@pytest.fixture
def index(backend: Backend, points: list[VectorPoint]) -> VectorIndex:
    idx = backend.open()
    idx.upsert(points)
    return idx


# --- the contract of test_vector_index.py, over HTTP --------------------------------------

test_search_right_after_upsert_finds_the_point_itself = (
    contract.test_search_right_after_upsert_finds_the_point_itself
)
test_search_agrees_with_brute_force = contract.test_search_agrees_with_brute_force
test_limit_larger_than_index_returns_every_point = (
    contract.test_limit_larger_than_index_returns_every_point
)
test_empty_index = contract.test_empty_index
test_upsert_of_an_existing_id_replaces_vector_and_payload = (
    contract.test_upsert_of_an_existing_id_replaces_vector_and_payload
)
test_upsert_rejects_a_vector_of_the_wrong_dimension = (
    contract.test_upsert_rejects_a_vector_of_the_wrong_dimension
)
test_delete = contract.test_delete
test_delete_of_unknown_ids_is_a_noop = contract.test_delete_of_unknown_ids_is_a_noop
test_delete_where_removes_a_collection = contract.test_delete_where_removes_a_collection
test_delete_where_with_combined_filter = contract.test_delete_where_with_combined_filter
test_delete_where_refuses_an_empty_filter = contract.test_delete_where_refuses_an_empty_filter
test_filter = contract.test_filter
test_created_bounds_are_inclusive_after_and_exclusive_before = (
    contract.test_created_bounds_are_inclusive_after_and_exclusive_before
)
test_points_without_tags_never_match_a_tag_filter = (
    contract.test_points_without_tags_never_match_a_tag_filter
)
test_an_empty_any_of_list_matches_nothing = contract.test_an_empty_any_of_list_matches_nothing
test_iter_ids_returns_exactly_the_stored_ids_across_pages = (
    contract.test_iter_ids_returns_exactly_the_stored_ids_across_pages
)
test_stats = contract.test_stats
test_optimize_keeps_results = contract.test_optimize_keeps_results
test_reopen_keeps_points_and_payloads = contract.test_reopen_keeps_points_and_payloads
test_reopen_with_another_dimension_raises = contract.test_reopen_with_another_dimension_raises


# --- the protocol --------------------------------------------------------------------------


def test_answers_and_errors_come_in_the_server_envelope(standin: Standin) -> None:
    name = f"envelope_{secrets.token_hex(4)}"
    http = standin.http
    created = http.put(f"/collections/{name}", json={"vectors": {"size": 2, "distance": "Cosine"}})
    assert created.status_code == 200
    assert created.json()["result"] is True
    assert created.json()["status"] == "ok"
    assert isinstance(created.json()["time"], float)
    points = {"points": [{"id": 1, "vector": [1.0, 0.0]}]}
    update = http.put(f"/collections/{name}/points", json=points).json()["result"]
    assert update["status"] == "acknowledged"  # a server's answer without wait=true
    update = http.put(f"/collections/{name}/points?wait=true", json=points).json()["result"]
    assert update["status"] == "completed"

    again = http.put(f"/collections/{name}", json={"vectors": {"size": 2, "distance": "Dot"}})
    assert again.status_code == 400
    assert again.json()["status"] == {"error": f"Wrong input: Collection `{name}` already exists!"}
    assert isinstance(again.json()["time"], float)
    short = http.put(f"/collections/{name}/points", json={"points": [{"id": 2, "vector": [1]}]})
    assert short.status_code == 400
    assert "Wrong input: Vector dimension error" in short.json()["status"]["error"]
    bad = http.put(f"/collections/{name}", json={"vectors": 3})
    assert bad.status_code == 400
    assert bad.json()["status"]["error"].startswith("Format error in JSON body")
    missing = http.get("/collections/missing")
    assert missing.status_code == 404
    assert missing.json()["status"] == {"error": "Not found: Collection `missing` doesn't exist!"}
    assert http.delete(f"/collections/{name}").json()["result"] is True

    version = http.get("/").json()
    assert version["title"] == "qdrant - vector search engine"
    assert version["version"].count(".") == 2


def test_payload_indexes_are_reported_like_a_server(backend: Backend) -> None:
    backend.open().upsert(make_points(20))
    assert isinstance(backend, StandinBackend)
    schema = backend.shared_client.get_collection(backend.collection).payload_schema
    assert set(schema) == {"collection_id", "file_id", "media_type", "tags", "created_at"}
    assert schema["collection_id"].data_type.value == "keyword"
    assert schema["collection_id"].points == 20
    assert schema["created_at"].data_type.value == "integer"
    assert 0 < schema["tags"].points < 20  # points with no tags hold no value


def test_a_wrong_or_missing_api_key_is_refused(standin: Standin) -> None:
    with (
        closing(standin.client(api_key="wrong")) as client,
        pytest.raises(UnexpectedResponse) as refused,
    ):
        QdrantServerVectorIndex(client, "chunks_refused", DIM)
    assert refused.value.status_code == 401
    with httpx.Client(base_url=standin.url) as bare:
        for headers in ({}, {"api-key": "wrong"}, {"authorization": f"Basic {standin.api_key}"}):
            response = bare.get("/collections", headers=headers)
            assert response.status_code == 401, headers
            assert response.headers["content-type"].startswith("text/plain")
        bearer = {"authorization": f"Bearer {standin.api_key}"}
        assert bare.get("/collections", headers=bearer).status_code == 200
        for open_path in ("/", "/healthz", "/readyz", "/livez"):
            assert bare.get(open_path).status_code == 200, open_path
    with closing(standin.client()) as client:
        assert not client.collection_exists("chunks_refused")


# --- a shared index ------------------------------------------------------------------------

_OTHER_PROCESS = textwrap.dedent(
    """
    import sys, warnings
    sys.path[:0] = [{root!r}]
    warnings.simplefilter("ignore")
    from qdrant_client import QdrantClient
    from mmstack.index.vector_qdrant import QdrantServerVectorIndex
    from tests.index.test_vector_index import DIM, make_points

    index = QdrantServerVectorIndex(
        QdrantClient(url={url!r}, api_key={key!r}), {collection!r}, DIM
    )
    index.upsert(make_points()[:150])
    print("written", flush=True)
    for _ in sys.stdin:
        print(len(list(index.iter_ids())), flush=True)
    index.close()
    """
)


def test_two_processes_see_each_others_writes_at_once(
    backend: Backend, points: list[VectorPoint]
) -> None:
    assert isinstance(backend, StandinBackend)
    server = backend.server
    script = _OTHER_PROCESS.format(
        root=str(ROOT), url=server.url, key=server.api_key, collection=backend.collection
    )
    other = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdin is not None
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "written"

        mine = backend.open()
        assert set(mine.iter_ids()) == {p.id for p in points[:150]}
        assert hit_ids(mine, points[7].vector, 1) == [points[7].id]
        mine.upsert(points[150:])
        mine.delete([points[0].id])

        other.stdin.write("count\n")
        other.stdin.flush()
        assert other.stdout.readline().strip() == str(len(points) - 1)
    finally:
        if other.stdin is not None:
            other.stdin.close()
        other.wait(30)
    assert other.returncode == 0


def test_data_outlives_a_crash_of_the_standin(tmp_path: Path, points: list[VectorPoint]) -> None:
    server = Standin(tmp_path, secrets.token_urlsafe(16))
    server.start()
    try:
        index = server.index("chunks")
        index.upsert(points)
        index.delete([points[0].id])
        index.delete_where(VectorFilter(collection_ids=["c1"]))
        index.close()
        server.stop(signal.SIGKILL)  # no shutdown: what was answered must be on disk

        server.start(key_from_env=True)  # the real server's setting works too
        index = server.index("chunks")
        kept = [p for p in points[1:] if p.payload.collection_id != "c1"]
        assert set(index.iter_ids()) == {p.id for p in kept}
        flt = contract.FILTERS["everything"]
        query = points[5].vector
        assert hit_ids(index, query, 10, flt) == [i for i, _ in brute_force(kept, query, 10, flt)]
        assert index.stats().points == len(kept)
        index.close()
        with closing(server.client()) as client:
            assert len(client.get_collection("chunks").payload_schema) == 5
    finally:
        server.close()
