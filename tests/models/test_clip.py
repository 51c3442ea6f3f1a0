"""Text-to-image search plumbing with a CLIP-style model built here: two tiny ONNX towers with
random weights and a word-level tokenizer. Random weights mean nothing about quality: these
tests check only that pictures are embedded, stored, searched, fused, filtered and
reconciled, not that the right picture wins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image, ImageDraw
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from mmstack.config.settings import IngestSettings, MediaSettings, Settings
from mmstack.index.filters import SearchFilter
from mmstack.models.clip import OnnxClipEmbedder, Preprocess
from mmstack.stack import open_stack
from tests.pictures import encode

DIMENSION = 8
IMAGE_SIZE = 32
WORDS = ["[PAD]", "[UNK]", "red", "blue", "square", "stripes", "circle", "picture"]


def _tiny_clip(folder: Path) -> Path:
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    # Visual tower: mean over the pixels of each channel, then a 3 x D projection.
    visual = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["pixels", "axes"], ["pooled"], keepdims=0),
            helper.make_node("MatMul", ["pooled", "project"], ["embedding"]),
        ],
        "visual",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", DIMENSION])],
        [
            numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"),
            numpy_helper.from_array(rng.normal(size=(3, DIMENSION)).astype(np.float32), "project"),
        ],
    )
    # Text tower: token embeddings averaged over the sequence.
    textual = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "ids"], ["tokens"]),
            helper.make_node("ReduceMean", ["tokens", "seq_axis"], ["embedding"], keepdims=0),
        ],
        "textual",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n", "length"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", DIMENSION])],
        [
            numpy_helper.from_array(
                rng.normal(size=(len(WORDS), DIMENSION)).astype(np.float32), "table"
            ),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "seq_axis"),
        ],
    )
    for name, graph in (("visual.onnx", visual), ("textual.onnx", textual)):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        onnx.checker.check_model(model)
        onnx.save(model, folder / name)
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "preprocess.json").write_text(f'{{"image_size": {IMAGE_SIZE}, "context_length": 6}}')
    return folder


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_clip(tmp_path_factory.mktemp("clip"))


def _picture(colour: str, shape: str) -> Image.Image:
    picture = Image.new("RGB", (300, 200), colour)
    draw = ImageDraw.Draw(picture)
    if shape == "circle":
        draw.ellipse((100, 50, 200, 150), fill="white")
    else:
        for x in range(0, 300, 60):
            draw.rectangle((x, 0, x + 15, 200), fill="white")
    return picture


def test_embedder_gives_unit_vectors_in_one_space(clip_dir: Path) -> None:
    embedder = OnnxClipEmbedder(
        clip_dir / "visual.onnx",
        clip_dir / "textual.onnx",
        clip_dir / "tokenizer.json",
        preprocess=Preprocess.read(clip_dir / "preprocess.json"),
    )
    images = embedder.embed_images([_picture("red", "circle"), _picture("blue", "stripes")])
    texts = embedder.embed_texts(["red square", "a blue picture with stripes and more words"])
    assert images.shape == texts.shape == (2, DIMENSION)
    assert np.allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(images[0], images[1])


def test_pictures_are_searched_fused_and_reconciled(clip_dir: Path, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        ingest=IngestSettings(workers=0),
        media=MediaSettings(ocr=False, clip_model_dir=clip_dir),
        llm={"embedded": {"enabled": False}},
    )
    with open_stack(settings) as stack:
        collection = stack.collections.create("photos").id
        other = stack.collections.create("other").id
        red = stack.intake.add_file(collection, "red.png", encode(_picture("red", "circle"), "PNG"))
        stack.intake.add_file(collection, "blue.png", encode(_picture("blue", "stripes"), "PNG"))
        stack.intake.add_file(other, "elsewhere.png", encode(_picture("red", "stripes"), "PNG"))
        stack.worker.run_until_idle()
        pictures = stack.pictures
        assert pictures is not None
        assert len(list(pictures.index.iter_ids())) == 3

        flt = SearchFilter(collection_ids=[collection])
        hits = stack.search.search("red square", mode="vector", top_k=5, flt=flt)
        assert {h.filename for h in hits} == {"red.png", "blue.png"}
        assert all("image" in h.ranks for h in hits)
        hybrid = stack.search.search("red picture", top_k=5, flt=flt)
        assert {"keyword", "vector", "image"} <= {name for h in hybrid for name in h.ranks}

        stack.collections.delete_file(collection, red.collection_file.file_id)
        after = stack.search.search("red square", mode="vector", top_k=5, flt=flt)
        assert [h.filename for h in after] == ["blue.png"]
    # The deleted picture's vector is an orphan; the next start removes it.
    with open_stack(settings) as stack:
        pictures = stack.pictures
        assert pictures is not None
        assert len(list(pictures.index.iter_ids())) == 2
