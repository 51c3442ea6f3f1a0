"""`/readyz` names what is not ready: the database, vector index, blob store and Redis
make the server unready (503); a language-model backend down leaves it ready but
`degraded`, named in the body."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mmstack.api.app import create_app
from mmstack.config.settings import (
    BlobSettings,
    EmbeddedLlmSettings,
    LlmSettings,
    QuotaSettings,
    Settings,
    UpstreamSettings,
)
from tests.llm.fake_upstream import FakeUpstream, unused_url
from tests.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server


def test_a_model_backend_down_is_named_and_the_server_stays_ready(
    settings: Settings, fake_upstream: FakeUpstream
) -> None:
    llm = LlmSettings(
        embedded=EmbeddedLlmSettings(enabled=False),
        default_model="up-model",
        upstreams=[
            UpstreamSettings(name="up", base_url=fake_upstream.base_url, models=["up-model"]),
            UpstreamSettings(name="down", base_url=unused_url(), models=["down-model"]),
        ],
    )
    with TestClient(create_app(settings.model_copy(update={"llm": llm}))) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["llm"]["upstream:up"] == "ok"
    assert "upstream:down is unreachable" in body["llm"]["upstream:down"]


def test_redis_down_makes_the_server_unready(settings: Settings) -> None:
    dead = settings.model_copy(
        update={
            "quotas": QuotaSettings(redis_url="redis://127.0.0.1:9/0"),
            "llm": LlmSettings(embedded=EmbeddedLlmSettings(enabled=False)),
        }
    )
    with TestClient(create_app(dead)) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["redis"].startswith("error")
    alive = dead.model_copy(update={"quotas": QuotaSettings(redis_url="redis://127.0.0.1:6379/0")})
    with TestClient(create_app(alive)) as client:
        assert client.get("/readyz").json()["checks"]["redis"] == "ok"


def test_a_missing_bucket_makes_the_server_unready(settings: Settings, s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    s3 = settings.model_copy(
        update={
            "blobs": BlobSettings(
                backend="s3",
                bucket=bucket,
                endpoint_url=s3_server.url,
                access_key_id=ACCESS_KEY_ID,
                secret_access_key=SECRET_ACCESS_KEY,
            ),
            "llm": LlmSettings(embedded=EmbeddedLlmSettings(enabled=False)),
        }
    )
    with TestClient(create_app(s3)) as client:
        assert client.get("/readyz").json()["checks"]["blob_store"] == "ok"
        s3_server.client().delete_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "does not exist" in ready.json()["checks"]["blob_store"]
