"""Captions from a vision model on an OpenAI-compatible server: a local fake speaking the
chat-completions protocol looks at the picture it is sent (its mean colour) and describes
it; the caption makes a picture with no text findable."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from PIL import Image, ImageDraw
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mmstack.config.settings import IngestSettings, MediaSettings, Settings
from mmstack.index.filters import SearchFilter
from mmstack.models.contracts import DescriberError
from mmstack.models.vision import OpenAIVisionDescriber
from mmstack.stack import open_stack
from tests.pictures import encode

API_KEY = "sk-vision-test"


class FakeVisionServer:
    """Names the dominant colour of the picture in the request's `image_url`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.broken = False
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])
        self.base_url = ""

    async def _chat(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        body = await request.json()
        self.requests.append(body)
        if self.broken:
            return PlainTextResponse("<html>gateway error</html>")
        (part,) = [p for p in body["messages"][0]["content"] if p["type"] == "image_url"]
        header, _, payload = part["image_url"]["url"].partition(",")
        assert header == "data:image/jpeg;base64"
        picture = Image.open(io.BytesIO(base64.b64decode(payload))).convert("RGB")
        red, green, blue = np.asarray(picture, dtype=np.float64).mean(axis=(0, 1))
        colour = max(("red", red), ("green", green), ("blue", blue), key=lambda c: c[1])[0]
        caption = f"A plain square painted {colour}, like a {colour} flag. "
        return JSONResponse(
            {
                "id": "chatcmpl-vision",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": caption},
                        "finish_reason": "stop",
                    }
                ],
            }
        )


@pytest.fixture(scope="module")
def vision_server() -> Iterator[FakeVisionServer]:
    fake = FakeVisionServer()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(fake.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    fake.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    yield fake
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def _square(colour: str, shape: int = 0) -> Image.Image:
    """Mostly `colour`, with a white figure that differs by `shape` (different pictures, not
    near-duplicates of each other)."""
    picture = Image.new("RGB", (400, 400), colour)
    draw = ImageDraw.Draw(picture)
    if shape == 1:
        draw.ellipse((120, 120, 280, 280), fill="white")
    elif shape == 2:
        for x in range(0, 400, 80):
            draw.rectangle((x, 0, x + 20, 400), fill="white")
    return picture


def test_the_describer_sends_the_picture_and_returns_the_caption(
    vision_server: FakeVisionServer,
) -> None:
    describer = OpenAIVisionDescriber(vision_server.base_url, "vision-1", api_key=API_KEY)
    try:
        assert describer.describe(_square("blue")) == (
            "A plain square painted blue, like a blue flag."
        )
        sent = vision_server.requests[-1]
        assert sent["model"] == "vision-1"
        assert sent["messages"][0]["content"][0]["type"] == "text"
    finally:
        describer.close()


def test_a_failing_vision_server_is_a_describer_error(vision_server: FakeVisionServer) -> None:
    wrong_key = OpenAIVisionDescriber(vision_server.base_url, "vision-1", api_key="nope")
    with pytest.raises(DescriberError, match="HTTP 401"):
        wrong_key.describe(_square("red"))
    wrong_key.close()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
    dead = OpenAIVisionDescriber(dead_url, "vision-1", timeout=2)
    with pytest.raises(DescriberError, match="unreachable"):
        dead.describe(_square("red"))
    dead.close()


def test_captions_make_pictures_without_text_findable(
    vision_server: FakeVisionServer, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        ingest=IngestSettings(workers=0),
        media=MediaSettings(
            ocr=False,
            caption_url=vision_server.base_url,
            caption_model="vision-1",
            caption_api_key=API_KEY,
        ),
        llm={"embedded": {"enabled": False}},
    )
    with open_stack(settings) as stack:
        collection = stack.collections.create("pictures").id
        stack.intake.add_file(collection, "a.png", encode(_square("red"), "PNG"))
        stack.intake.add_file(collection, "b.png", encode(_square("green", 1), "PNG"))
        stack.worker.run_until_idle()
        vision_server.broken = True
        stack.intake.add_file(collection, "c.png", encode(_square("blue", 2), "PNG"))
        stack.worker.run_until_idle()
        vision_server.broken = False
        flt = SearchFilter(collection_ids=[collection])
        hits = stack.search.search("green flag", top_k=1, flt=flt)
        assert [(h.filename, h.anchor.source) for h in hits] == [("b.png", "caption")]
        # The picture whose caption failed is still ingested, findable by its name.
        states = {f.file.filename: f.status for f in stack.collections.files(collection)}
        assert states == {"a.png": "completed", "b.png": "completed", "c.png": "completed"}
        (blue,) = stack.search.search("Image c.png", mode="keyword", top_k=1, flt=flt)
        assert blue.filename == "c.png"
