"""A transcript in each of OpenAI's `response_format`s: json, text, srt, vtt, verbose_json."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, get_args

from mmstack.models.transcriber import WHISPER_LANGUAGES, TimedSegment, Transcript

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
RESPONSE_FORMATS: tuple[str, ...] = get_args(ResponseFormat)


def clock(seconds: float, *, decimal: str) -> str:
    """`HH:MM:SS<decimal>mmm`, the cue time of SRT (decimal ",") and WebVTT (".")."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def srt(segments: Sequence[TimedSegment]) -> str:
    cues = (
        f"{i}\n{clock(s.start, decimal=',')} --> {clock(s.end, decimal=',')}\n{s.text}\n"
        for i, s in enumerate(segments, 1)
    )
    return "\n".join(cues)


def vtt(segments: Sequence[TimedSegment]) -> str:
    cues = (
        f"{clock(s.start, decimal='.')} --> {clock(s.end, decimal='.')}\n{s.text}\n"
        for s in segments
    )
    return "\n".join(["WEBVTT\n", *cues])


def language_name(code: str) -> str:
    """OpenAI reports the language by its English name ("english")."""
    return WHISPER_LANGUAGES.get(code, code or "unknown")


def usage(transcript: Transcript) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(transcript.duration)}


def json_body(transcript: Transcript) -> dict[str, Any]:
    return {"text": transcript.text, "usage": usage(transcript)}


def verbose_body(transcript: Transcript, *, words: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": language_name(transcript.language),
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
        "segments": [
            {
                "id": i,
                "seek": s.seek,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": list(s.tokens),
                "temperature": s.temperature,
                "avg_logprob": s.avg_logprob,
                "compression_ratio": s.compression_ratio,
                "no_speech_prob": s.no_speech_prob,
            }
            for i, s in enumerate(transcript.segments)
        ],
        "usage": usage(transcript),
    }
    if words:
        body["words"] = [
            {"word": w.word.strip(), "start": w.start, "end": w.end}
            for s in transcript.segments
            for w in s.words
        ]
    return body
