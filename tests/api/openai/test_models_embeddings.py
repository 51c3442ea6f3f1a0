"""`/v1/models` and `/v1/embeddings` through the official `openai` client."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from fastapi.testclient import TestClient
from tokenizers import Tokenizer

from mmstack.api.app import create_app
from mmstack.config.settings import IngestSettings, Settings
from mmstack.models.catalog import MINILM_ID
from mmstack.stack.builders import model_registry
from tests.api.live_server import admin_key, client_stack

CAT = "The cat sat on the mat."
MARKETS = "Stock markets fell sharply on Monday."


def _vector(data: list[float]) -> np.ndarray:
    return np.asarray(data, dtype=np.float32)


def _token_ids(tmp_path: Path, text: str) -> list[int]:
    paths = model_registry(Settings(data_dir=tmp_path)).paths(MINILM_ID)
    ids: list[int] = (
        Tokenizer.from_file(str(paths["tokenizer"])).encode(text, add_special_tokens=False).ids
    )
    return ids


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert {MINILM_ID, "whisper-1", "whisper-base"} <= {m.id for m in models}
    model = client.models.retrieve(MINILM_ID)
    assert (model.id, model.object, model.owned_by) == (MINILM_ID, "model", "mmstack")
    assert model.created > 0
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("gpt-4o")
    assert missing.value.code == "model_not_found"
    assert "gpt-4o" in missing.value.message


def test_embeddings_of_texts_and_token_arrays(client: openai.OpenAI, tmp_path: Path) -> None:
    one = client.embeddings.create(model=MINILM_ID, input=CAT, encoding_format="float")
    assert (one.object, one.model, len(one.data)) == ("list", MINILM_ID, 1)
    assert (one.data[0].object, one.data[0].index) == ("embedding", 0)
    cat = _vector(one.data[0].embedding)
    assert cat.shape == (384,)
    assert abs(float(np.linalg.norm(cat)) - 1) < 1e-4
    assert one.usage.prompt_tokens == one.usage.total_tokens == 7

    # The SDK asks for base64 unless told otherwise, and decodes it.
    both = client.embeddings.create(model=MINILM_ID, input=[CAT, MARKETS], dimensions=384)
    assert [d.index for d in both.data] == [0, 1]
    assert np.allclose(_vector(both.data[0].embedding), cat, atol=1e-5)
    assert float(_vector(both.data[1].embedding) @ cat) < 0.5
    assert both.usage.prompt_tokens > one.usage.prompt_tokens

    tokens = _token_ids(tmp_path, CAT)
    from_tokens = client.embeddings.create(model=MINILM_ID, input=tokens, encoding_format="float")
    assert float(_vector(from_tokens.data[0].embedding) @ cat) > 0.99
    several = client.embeddings.create(
        model=MINILM_ID, input=[tokens, _token_ids(tmp_path, MARKETS)], encoding_format="float"
    )
    assert len(several.data) == 2


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"input": "x", "dimensions": 256}, "384-dimensional"),
        ({"input": ""}, "input[0] is empty"),
        ({"input": []}, "must not be empty"),
        ({"input": ["ok", ""]}, "input[1] is empty"),
        ({"input": ["a"] * 2049}, "at most 2048 inputs"),
        ({"input": "word " * 600}, "over the model's limit of 510"),
        ({"input": [[101, 2000], [99_999_999]]}, "outside the model's vocabulary"),
        ({"input": [[]]}, "empty token array"),
        ({"input": ["text", [1, 2]], "encoding_format": "float"}, None),
        ({"input": [1, "a"]}, "a string, an array of strings, or one or more token arrays"),
        ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
    ],
)
def test_embedding_bad_input(
    client: openai.OpenAI, kwargs: dict[str, object], fragment: str | None
) -> None:
    if fragment is None:  # mixing texts and token arrays is allowed
        assert len(client.embeddings.create(model=MINILM_ID, **kwargs).data) == 2  # type: ignore[arg-type]
        return
    with pytest.raises(openai.BadRequestError) as bad:
        client.embeddings.create(model=MINILM_ID, **kwargs)  # type: ignore[arg-type]
    assert fragment in bad.value.message
    assert bad.value.body["type"] == "invalid_request_error"  # type: ignore[index]


def test_embedding_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert missing.value.code == "model_not_found"
    assert missing.value.param == "model"


def test_raw_bad_requests_get_openai_errors_never_422(
    base_url: str, auth_headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=base_url, headers=auth_headers) as http:
        invalid_json = http.post(
            "/embeddings", content=b'{"model": ', headers={"content-type": "application/json"}
        )
        missing_field = http.post("/embeddings", json={"input": "x"})
        wrong_type = http.post("/embeddings", json={"model": MINILM_ID, "input": 5})
        unknown_route = http.get("/nowhere")
        wrong_method = http.delete("/models")
    assert invalid_json.status_code == 400
    assert invalid_json.json()["error"]["code"] == "invalid_json"
    for response, status in (
        (missing_field, 400),
        (wrong_type, 400),
        (unknown_route, 404),
        (wrong_method, 405),
    ):
        assert response.status_code == status, response.text
        assert "Value error" not in response.text
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert missing_field.json()["error"]["param"] == "model"
    assert wrong_type.json()["error"]["param"] == "input"
    assert "token arrays" in wrong_type.json()["error"]["message"]


def test_models_list_chat_models_first_each_with_its_kind(
    base_url: str, auth_headers: dict[str, str]
) -> None:
    listed = httpx.get(f"{base_url}/models", headers=auth_headers).json()["data"]
    kinds = [m["kind"] for m in listed]
    assert kinds == sorted(kinds, key=["chat", "embedding", "transcription"].index)
    assert listed[0]["id"] == Settings().llm.default_model
    assert {"chat", "embedding", "transcription"} <= set(kinds)
    by_id = {m["id"]: m["kind"] for m in listed}
    assert (by_id[MINILM_ID], by_id["whisper-1"]) == ("embedding", "transcription")

    chat = httpx.get(f"{base_url}/models", params={"kind": "chat"}, headers=auth_headers)
    assert {m["kind"] for m in chat.json()["data"]} == {"chat"}
    bogus = httpx.get(f"{base_url}/models", params={"kind": "vision"}, headers=auth_headers)
    assert bogus.status_code == 400
    assert bogus.json()["error"]["param"] == "kind"


def test_a_server_can_list_its_chat_models_alone(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, ingest=IngestSettings(workers=0), llm={"list_chat_models_only": True}
    )
    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {admin_key(client_stack(client))}"}
        listed = client.get("/v1/models", headers=headers).json()["data"]
    assert [m["kind"] for m in listed] == ["chat"]
