"""`/v1/audio/transcriptions` through the official `openai` client, on the bundled Whisper
model of a live server, with espeak-ng speech."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import openai
import pytest

from mmstack.api.routes.openai.transcript_formats import clock
from mmstack.config.settings import IngestSettings, Settings
from mmstack.media.decoder import IN_PROCESS, Decoder
from mmstack.models.contracts import SpeechSegment
from tests.api.live_server import LiveServer, serve
from tests.speech import Placed, encode, recording, word_error_rate

GREETING = "Good morning, and welcome to the museum."
LATE = "The guided tour leaves from the main entrance."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), ingest=IngestSettings(workers=0))
    with serve(settings) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=120
    )


@pytest.fixture(scope="module")
def greeting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "greeting.wav"
    recording(path, [GREETING])
    return encode(path, ".m4a")


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Placed]]:
    path = tmp_path_factory.mktemp("audio") / "tour.wav"
    return path, recording(path, [GREETING, 10.0, LATE])


def test_json(client: openai.OpenAI, greeting: Path) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=greeting)
    assert word_error_rate(GREETING, result.text) <= 0.3


def test_verbose_json_with_words(client: openai.OpenAI, tour: tuple[Path, list[Placed]]) -> None:
    path, placed = tour
    result = client.audio.transcriptions.create(
        model="whisper-base",
        file=path,
        response_format="verbose_json",
        timestamp_granularities=["segment", "word"],
    )
    assert result.to_dict()["task"] == "transcribe"
    assert result.language == "english"
    assert result.duration == pytest.approx(placed[-1].end, abs=0.05)
    assert word_error_rate(f"{GREETING} {LATE}", result.text) <= 0.3
    segments = result.segments or []
    assert [s.id for s in segments] == list(range(len(segments)))
    assert [s.start for s in segments] == sorted(s.start for s in segments)
    late = next(s for s in segments if "entrance" in s.text.lower())
    assert late.start == pytest.approx(placed[1].start, abs=2.0)
    assert late.tokens
    words = result.words or []
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert next(w for w in words if "tour" in w.word.lower()).start > placed[1].start - 2


def test_text_srt_and_vtt(client: openai.OpenAI, greeting: Path) -> None:
    create = client.audio.transcriptions.create
    text = create(model="whisper-1", file=greeting, response_format="text", language="en")
    assert word_error_rate(GREETING, text) <= 0.3
    srt = create(model="whisper-1", file=greeting, response_format="srt")
    assert re.match(r"1\n00:00:0\d,\d{3} --> 00:00:0\d,\d{3}\n\S", srt)
    vtt = create(model="whisper-1", file=greeting, response_format="vtt")
    assert re.match(r"WEBVTT\n\n00:00:0\d\.\d{3} --> 00:00:0\d\.\d{3}\n\S", vtt)


def test_request_errors(client: openai.OpenAI, greeting: Path, tmp_path: Path) -> None:
    create = client.audio.transcriptions.create
    with pytest.raises(openai.NotFoundError, match="does not transcribe audio"):
        create(model="gpt-4o-transcribe", file=greeting)
    with pytest.raises(openai.BadRequestError, match="response_format must be one of"):
        create(model="whisper-1", file=greeting, response_format="xml")  # type: ignore[call-overload]
    with pytest.raises(openai.BadRequestError, match="language 'klingon'"):
        create(model="whisper-1", file=greeting, language="klingon")
    corrupt = tmp_path / "broken.mp3"
    corrupt.write_bytes(b"ID3" + bytes(range(256)) * 16)
    with pytest.raises(openai.BadRequestError, match="not a readable audio") as caught:
        create(model="whisper-1", file=corrupt)
    assert caught.value.param == "file"


def test_disabled(
    client: openai.OpenAI, server: LiveServer, greeting: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.stack, "transcriber", None)
    with pytest.raises(openai.InternalServerError, match="speech-to-text is disabled") as caught:
        client.audio.transcriptions.create(model="whisper-1", file=greeting)
    assert caught.value.status_code == 503


def test_the_upload_is_decoded_within_the_parse_budgets(
    client: openai.OpenAI, server: LiveServer, greeting: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = server.stack.settings
    hurried = IngestSettings(workers=0, parse_timeout_seconds=1e-6, parse_seconds_per_mib=0)
    monkeypatch.setattr(server.stack, "settings", settings.model_copy(update={"ingest": hurried}))
    with pytest.raises(openai.BadRequestError, match=r"took longer than 1e-06 s") as caught:
        client.audio.transcriptions.create(model="whisper-1", file=greeting)
    assert caught.value.param == "file"
    monkeypatch.setattr(server.stack, "settings", settings)
    assert (
        GREETING.split()[0]
        in client.audio.transcriptions.create(model="whisper-1", file=greeting).text
    )


class _Overlap:
    """A transcriber that takes its time and counts how many run at once."""

    def __init__(self) -> None:
        self.running = self.most = 0
        self.lock = threading.Lock()

    def transcribe(
        self,
        path: Path,
        *,
        progress: Callable[[float], None] | None = None,
        decoder: Decoder = IN_PROCESS,
    ) -> Iterator[SpeechSegment]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.5)
        with self.lock:
            self.running -= 1
        yield SpeechSegment(0.0, 1.0, "hello")


def _at_once(client: openai.OpenAI, greeting: Path, count: int) -> None:
    def transcribe() -> None:
        assert client.audio.transcriptions.create(model="whisper-1", file=greeting).text

    threads = [threading.Thread(target=transcribe) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_transcriptions_wait_their_turn(
    client: openai.OpenAI, server: LiveServer, greeting: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capped = _Overlap()
    monkeypatch.setattr(server.stack, "transcriber", capped)
    _at_once(client, greeting, 3)
    assert capped.most == 1  # http.transcriptions_at_once
    uncapped = _Overlap()
    monkeypatch.setattr(server.stack, "transcriber", uncapped)
    monkeypatch.setattr(server.app.state, "transcriptions", anyio.Semaphore(3))
    _at_once(client, greeting, 3)
    assert uncapped.most > 1


def test_cue_clock() -> None:
    assert clock(0, decimal=",") == "00:00:00,000"
    assert clock(59.9996, decimal=",") == "00:01:00,000"
    assert clock(3725.25, decimal=".") == "01:02:05.250"
