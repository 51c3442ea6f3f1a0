"""Citations of recordings point at the second: a video ingested with the real OCR and
Whisper models, a scripted model at the LLM seam citing what is said in it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mmstack.answer import AnswerService
from mmstack.answer.chat import citation_annotations
from mmstack.config.settings import AnswerSettings, IngestSettings, MediaSettings, Settings
from mmstack.stack import Stack, open_stack
from tests.answer.scripted import ScriptedModels
from tests.media.video_samples import talk
from tests.pictures import OCR_THREADS

pytestmark = pytest.mark.anyio

SPOKEN_AT = 12.0  # "The budget meeting starts at noon." in the talk


@pytest.fixture(scope="module")
def talk_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("talk")
    settings = Settings(
        data_dir=root / "data",
        ingest=IngestSettings(workers=0),
        media=MediaSettings(ocr_threads=OCR_THREADS, speech_threads=2),
        llm={"embedded": {"enabled": False}},
    )
    with open_stack(settings) as stack:
        collection = stack.collections.create("talks").id
        stack.intake.add_file(collection, "talk.mp4", talk(root / "talk.mp4").read_bytes())
        stack.worker.run_until_idle()
        yield stack


async def test_a_citation_of_speech_points_at_the_second_it_is_said(talk_stack: Stack) -> None:
    model = ScriptedModels("")
    service = AnswerService(talk_stack.search, model, talk_stack.embedder, AnswerSettings())
    question = "When does the budget meeting start?"
    probe = await service.answer(question)
    spoken = next(i for i, h in enumerate(probe.passages, 1) if "noon" in h.text)

    model.answer = f"The budget meeting starts at noon [{spoken}]."
    answer = await service.answer(question)

    assert not answer.refused
    (citation,) = answer.citations
    assert (citation.filename, citation.modality) == ("talk.mp4", "video")
    assert citation.time_start is not None
    assert abs(citation.time_start - SPOKEN_AT) <= 3.0
    assert citation.location.startswith("at 0:1")
    (annotation,) = citation_annotations(answer)
    assert annotation["start_seconds"] == citation.time_start
    assert annotation["thumbnail_url"].startswith(f"/v1/files/{citation.file_id}/thumbnails/")
