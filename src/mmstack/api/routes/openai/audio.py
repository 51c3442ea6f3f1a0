"""OpenAI's audio transcriptions on the bundled Whisper model."""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path
from typing import IO, Annotated, cast

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from mmstack.api.deps import SettingsDep, authorize, stack_of, transcriptions
from mmstack.api.routes.openai import transcript_formats as formats
from mmstack.auth.roles import EndpointGroup, Permission
from mmstack.errors import IngestError, InvalidRequestError, MMStackError
from mmstack.index.model_directory import ModelNotFoundError
from mmstack.ingest.parsers import decoder_for
from mmstack.ingest.parsers.context import Isolation
from mmstack.knowledge.uploads import FileTooLargeError, size_limit_message
from mmstack.media.detect import extension_of
from mmstack.models.catalog import WHISPER_BASE_ID
from mmstack.models.contracts import Transcriber
from mmstack.models.transcriber import WHISPER_LANGUAGES, TranscriptionOptions, transcribe_file

router = APIRouter(
    prefix="/v1/audio",
    tags=["openai: audio"],
    dependencies=[Depends(authorize(EndpointGroup.AUDIO, Permission.INFER))],
)

MODEL_IDS = ("whisper-1", WHISPER_BASE_ID)
"""The model names a request may give: OpenAI's, as an alias, and the bundled model's."""

_GRANULARITIES = ("segment", "word")


class SpeechToTextDisabledError(MMStackError):
    code = "speech_to_text_disabled"
    status_code = 503


async def get_transcriber(request: Request) -> Transcriber | None:
    transcriber: Transcriber | None = stack_of(request).transcriber
    return transcriber


TranscriberDep = Annotated[Transcriber | None, Depends(get_transcriber)]


@router.post("/transcriptions", response_model=None)
async def create_transcription(
    request: Request,
    transcriber: TranscriberDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
    model: Annotated[str, Form(min_length=1)],
    language: Annotated[str | None, Form()] = None,
    prompt: Annotated[str | None, Form()] = None,
    response_format: Annotated[str, Form()] = "json",
    temperature: Annotated[float, Form(ge=0, le=1)] = 0.0,
    timestamp_granularities: Annotated[
        list[str] | None, Form(alias="timestamp_granularities[]")
    ] = None,
    stream: Annotated[bool, Form()] = False,
) -> Response:
    """Transcribe an uploaded recording (any format FFmpeg reads) in the language spoken."""
    if model not in MODEL_IDS:
        raise ModelNotFoundError(
            f"the model '{model}' does not transcribe audio (use one of: {', '.join(MODEL_IDS)})",
            param="model",
        )
    if response_format not in formats.RESPONSE_FORMATS:
        raise InvalidRequestError(
            f"response_format must be one of {', '.join(formats.RESPONSE_FORMATS)}",
            param="response_format",
        )
    granularities = set(timestamp_granularities or ["segment"])
    if not granularities <= set(_GRANULARITIES):
        raise InvalidRequestError(
            "timestamp_granularities[] may hold 'segment' and 'word'",
            param="timestamp_granularities",
        )
    if timestamp_granularities and response_format != "verbose_json":
        raise InvalidRequestError(
            "timestamp_granularities[] needs response_format verbose_json",
            param="timestamp_granularities",
        )
    if stream:
        raise InvalidRequestError("whisper transcriptions are not streamed", param="stream")
    if transcriber is None:
        raise SpeechToTextDisabledError("speech-to-text is disabled on this server")
    options = TranscriptionOptions(
        language=_language(language),
        prompt=prompt or None,
        temperature=temperature,
        word_timestamps="word" in granularities,
    )
    ingest = settings.ingest
    limit = ingest.max_file_bytes
    with tempfile.TemporaryDirectory(prefix="mmstack-audio-") as tmp:
        # The name keeps the upload's extension: FFmpeg's hint for headerless formats.
        path = Path(tmp) / f"upload{extension_of(file.filename or '')}"
        size = await run_in_threadpool(_save, file.file, path, limit)
        if size > limit:
            raise FileTooLargeError(size_limit_message(size, limit), param="file")
        if size == 0:
            raise InvalidRequestError("the uploaded file is empty", param="file")
        decoder = decoder_for(Isolation.configured(ingest), size)
        try:
            async with transcriptions(request):
                transcript = await run_in_threadpool(
                    partial(transcribe_file, transcriber, path, options, decoder=decoder)
                )
        except IngestError as exc:
            raise InvalidRequestError(exc.message, param="file") from None
    match cast(formats.ResponseFormat, response_format):
        case "json":
            return JSONResponse(formats.json_body(transcript))
        case "verbose_json":
            body = formats.verbose_body(transcript, words=options.word_timestamps)
            return JSONResponse(body)
        case "text":
            return PlainTextResponse(transcript.text + "\n")
        case "srt":
            return PlainTextResponse(formats.srt(transcript.segments))
        case "vtt":
            return PlainTextResponse(formats.vtt(transcript.segments), media_type="text/vtt")


def _language(value: str | None) -> str | None:
    """An ISO 639-1 code or an English language name, as the code Whisper takes."""
    if not value:
        return None
    wanted = value.strip().lower()
    if wanted in WHISPER_LANGUAGES:
        return wanted
    for code, name in WHISPER_LANGUAGES.items():
        if name == wanted:
            return code
    raise InvalidRequestError(
        f"language '{value}' is not one Whisper knows (give an ISO 639-1 code such as 'en')",
        param="language",
    )


def _save(source: IO[bytes], path: Path, limit: int) -> int:
    """Copy the upload to `path`, stopping one byte past `limit`; the bytes copied."""
    size = 0
    with path.open("wb") as out:
        while size <= limit and (block := source.read(min(1 << 20, limit + 1 - size))):
            out.write(block)
            size += len(block)
    return size
