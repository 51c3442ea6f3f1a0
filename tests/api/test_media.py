"""Media through the whole stack on a live application: a video, a scanned PDF and pictures
uploaded over HTTP, ingested by the worker with the real OCR and Whisper models, found by
search with the second, page and picture they come from."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from mmstack.api.app import create_app
from mmstack.config.settings import IngestSettings, MediaSettings, Settings
from tests.api.live_server import admin_key, client_stack
from tests.media.video_samples import talk
from tests.pictures import OCR_THREADS, encode, pdf_with_scanned_page, text_image

SPOKEN_AT = 12.0  # the talk's sentence "The budget meeting starts at noon."
SLIDE_SHOWN = (20.0, 30.0)  # the talk's slide reading PELICAN


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    live = settings.model_copy(
        update={
            "ingest": IngestSettings(workers=1, retry_base_seconds=0.01, max_attempts=2),
            "media": MediaSettings(ocr_threads=OCR_THREADS, speech_threads=2),
        }
    )
    with TestClient(create_app(live)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {admin_key(client_stack(test_client))}"
        yield test_client


def _upload(client: TestClient, files: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    response = client.post(
        "/api/collections/media/files", files=[("files", item) for item in files]
    )
    assert response.status_code in (200, 201, 202), response.text
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        listed: list[dict[str, Any]] = client.get("/api/collections/media/files").json()["data"]
        if all(f["status"] in ("completed", "failed") for f in listed):
            return listed
        time.sleep(0.2)
    raise AssertionError(f"ingestion did not finish: {listed}")


def _search(client: TestClient, query: str, **filters: Any) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"query": query, "collections": ["media"], "top_k": 5}
    if filters:
        body["filters"] = filters
    response = client.post("/api/search", json=body)
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["data"]
    return hits


def test_video_pdf_and_pictures_are_found_at_their_second_page_and_picture(
    client: TestClient, tmp_path: Path
) -> None:
    created = client.post("/api/collections", json={"name": "media"})
    assert created.status_code in (200, 201)
    video = talk(tmp_path / "talk.mp4").read_bytes()
    scanned = pdf_with_scanned_page(tmp_path / "log.pdf").read_bytes()
    sign = text_image(["Loading dock closes at five"], size=(900, 160), font_size=48)
    truncated = video[: len(video) // 3]
    files = _upload(
        client,
        [
            ("talk.mp4", video),
            ("log.pdf", scanned),
            ("dock.png", encode(sign, "PNG")),
            ("broken.mp4", truncated),
        ],
    )
    by_name = {f["filename"]: f for f in files}
    assert {n: by_name[n]["status"] for n in by_name} == {
        "talk.mp4": "completed",
        "log.pdf": "completed",
        "dock.png": "completed",
        "broken.mp4": "failed",
    }
    assert by_name["broken.mp4"]["last_error"]

    # Speech: found, and the result points at the second it is said.
    spoken = _search(client, "when does the budget meeting start")
    top = spoken[0]
    assert (top["filename"], top["modality"], top["anchor"]["source"]) == (
        "talk.mp4",
        "video",
        "speech",
    )
    assert abs(top["start_seconds"] - SPOKEN_AT) <= 3.0
    frame = client.get(top["thumbnail_url"])
    assert frame.status_code == 200
    assert frame.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(frame.content)).size[0] <= 320

    # The same through OpenAI's vector store search, with mmstack's location fields.
    store_hits = client.post(
        f"/v1/vector_stores/{created.json()['id']}/search",
        json={"query": "when does the budget meeting start", "max_num_results": 3},
    ).json()["data"]
    assert store_hits[0]["filename"] == "talk.mp4"
    assert store_hits[0]["modality"] == "video"
    assert abs(store_hits[0]["start_seconds"] - SPOKEN_AT) <= 3.0
    assert store_hits[0]["thumbnail_url"].startswith("/v1/files/")

    # A word only on a slide: found with the time the slide is shown.
    slide = _search(client, "PELICAN")[0]
    assert (slide["filename"], slide["anchor"]["source"]) == ("talk.mp4", "ocr")
    assert SLIDE_SHOWN[0] - 1.5 <= slide["start_seconds"] <= SLIDE_SHOWN[1]

    # A sentence printed on a scanned page: found with its page number.
    page = _search(client, "Which valve was replaced in Valparaiso?")[0]
    assert (page["filename"], page["anchor"]["page_start"], page["anchor"]["source"]) == (
        "log.pdf",
        2,
        "ocr",
    )
    assert "Valparaiso" in page["text"]
    assert client.get(page["thumbnail_url"]).status_code == 200

    # A picture's text, with the region it was read from.
    dock = _search(client, "loading dock", modalities=["image"])
    assert [h["filename"] for h in dock] == ["dock.png"]
    left, top_edge, right, bottom = dock[0]["anchor"]["region"]
    assert 0 <= left < right <= 900
    assert 0 <= top_edge < bottom <= 160

    # The modality filter keeps only files of those kinds; nothing of the broken file shows.
    only_video = _search(client, "budget meeting PELICAN valve dock", modalities=["video"])
    assert {h["filename"] for h in only_video} == {"talk.mp4"}
    everything = _search(client, "budget meeting PELICAN valve dock Quarterly review")
    assert "broken.mp4" not in {h["filename"] for h in everything}


def test_the_same_picture_twice_is_one_file_and_its_images_go_with_it(
    client: TestClient, tmp_path: Path
) -> None:
    assert client.post("/api/collections", json={"name": "media"}).status_code in (200, 201)
    poster = text_image(["Annual picnic by the lake"], size=(800, 200), font_size=44)
    files = _upload(
        client,
        [("poster.png", encode(poster, "PNG")), ("poster-copy.jpg", encode(poster, "JPEG"))],
    )
    assert [f["filename"] for f in files] == ["poster.png"]
    (hit,) = _search(client, "picnic by the lake")
    assert client.get(hit["thumbnail_url"]).status_code == 200
    # Another file's id does not reach this picture's images.
    other = _upload(client, [("notes.txt", b"Nothing to see here.")])
    other_id = next(f["id"] for f in other if f["filename"] == "notes.txt")
    key = hit["thumbnail_url"].rsplit("/", 1)[-1]
    assert client.get(f"/v1/files/{other_id}/thumbnails/{key}").status_code == 404

    deleted = client.delete(f"/api/collections/media/files/{hit['file_id']}")
    assert deleted.status_code in (200, 204), deleted.text
    assert client.get(hit["thumbnail_url"]).status_code == 404
