"""Image understanding through a vision-capable model on any OpenAI-compatible server (vLLM,
Ollama, LiteLLM, OpenAI): the picture goes as a `data:` URL in a chat message, the reply is
its caption. Off in the embedded default: no vision model ships in a package.

Synchronous on purpose: it runs inside the ingestion worker's thread, one picture at a time.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

import httpx

from mmstack.models.contracts import DescriberError

if TYPE_CHECKING:
    from PIL.Image import Image

DEFAULT_PROMPT = (
    "Describe this picture in one or two sentences for a search index: what it shows, "
    "and any text you can read in it."
)
MAX_SIDE = 768  # vision models work on a few hundred pixels; sending more only costs time


class OpenAIVisionDescriber:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        prompt: str = DEFAULT_PROMPT,
        max_tokens: int = 120,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )
        self._model = model
        self._prompt = prompt
        self._max_tokens = max_tokens

    def describe(self, image: Image) -> str:
        body = {
            "model": self._model,
            "max_tokens": self._max_tokens,
            "temperature": 0.0,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": self._prompt},
                        {"type": "image_url", "image_url": {"url": _data_url(image)}},
                    ],
                }
            ],
        }
        try:
            response = self._client.post("chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise DescriberError(f"vision model unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise DescriberError(
                f"vision model answered HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            reply: Any = response.json()
            text = reply["choices"][0]["message"]["content"]
        except (ValueError, LookupError, TypeError) as exc:
            raise DescriberError("vision model answered with no chat reply") from exc
        if not isinstance(text, str):
            raise DescriberError("vision model answered no text")
        return " ".join(text.split())

    def close(self) -> None:
        self._client.close()


def _data_url(image: Image) -> str:
    from PIL import ImageOps

    # Made small first: a copy of the whole picture in RGB can be hundreds of MB.
    picture = ImageOps.contain(image, (MAX_SIDE, MAX_SIDE)) if max(image.size) > MAX_SIDE else image
    picture = picture.convert("RGB")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")
