"""Speech to text with Whisper on CTranslate2 (faster-whisper): CPU, int8, only where the
Silero VAD that ships inside faster-whisper hears speech (no download).

A recording is decoded half a minute at a time (`media/audio.py`) and each window
transcribed on its own, so memory does not grow with the length of the file. Windows of
Whisper's own 30 s context are also the fastest: in a longer one Whisper re-encodes the
part after its last complete segment on every step. The language is detected on the first
window that holds speech and kept for the rest.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmstack.media.audio import SAMPLE_RATE, AudioWindow, audio_windows, probe_audio
from mmstack.media.decoder import IN_PROCESS, Decoder
from mmstack.models.catalog import WHISPER_BASE_ID
from mmstack.models.contracts import SpeechSegment, Transcriber
from mmstack.models.on_demand import OnDemandTranscriber
from mmstack.models.registry import ModelRegistry, ModelSpec, ModelUnavailableError

# faster-whisper reads these names from the model directory.
_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.json")

# Whisper's languages, ISO 639-1 (or 639-3 where there is none) -> the English name the
# OpenAI API reports.
_LANGUAGES = (
    "en:english zh:chinese de:german es:spanish ru:russian ko:korean fr:french "
    "ja:japanese pt:portuguese tr:turkish pl:polish ca:catalan nl:dutch ar:arabic "
    "sv:swedish it:italian id:indonesian hi:hindi fi:finnish vi:vietnamese he:hebrew "
    "uk:ukrainian el:greek ms:malay cs:czech ro:romanian da:danish hu:hungarian "
    "ta:tamil no:norwegian th:thai ur:urdu hr:croatian bg:bulgarian lt:lithuanian "
    "la:latin mi:maori ml:malayalam cy:welsh sk:slovak te:telugu fa:persian lv:latvian "
    "bn:bengali sr:serbian az:azerbaijani sl:slovenian kn:kannada et:estonian "
    "mk:macedonian br:breton eu:basque is:icelandic hy:armenian ne:nepali mn:mongolian "
    "bs:bosnian kk:kazakh sq:albanian sw:swahili gl:galician mr:marathi pa:punjabi "
    "si:sinhala km:khmer sn:shona yo:yoruba so:somali af:afrikaans oc:occitan "
    "ka:georgian be:belarusian tg:tajik sd:sindhi gu:gujarati am:amharic yi:yiddish "
    "lo:lao uz:uzbek fo:faroese ht:haitian_creole ps:pashto tk:turkmen nn:nynorsk "
    "mt:maltese sa:sanskrit lb:luxembourgish my:myanmar bo:tibetan tl:tagalog "
    "mg:malagasy as:assamese tt:tatar haw:hawaiian ln:lingala ha:hausa ba:bashkir "
    "jw:javanese su:sundanese yue:cantonese"
)
WHISPER_LANGUAGES: dict[str, str] = {
    code: name.replace("_", " ") for code, name in (pair.split(":") for pair in _LANGUAGES.split())
}


@dataclass(frozen=True, slots=True)
class TranscriptionOptions:
    language: str | None = None  # a key of WHISPER_LANGUAGES; None detects it
    prompt: str | None = None  # text the speech continues: spellings, names, style
    temperature: float = 0.0  # 0: greedy, raised on a failed window as Whisper does
    word_timestamps: bool = False


@dataclass(frozen=True, slots=True)
class TimedWord:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True, slots=True)
class TimedSegment:
    """A segment with Whisper's decoding statistics (what OpenAI's verbose form reports)."""

    start: float  # seconds from the start of the file
    end: float
    text: str
    seek: int = 0  # the 10 ms mel frame Whisper's 30 s window began at
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0
    words: tuple[TimedWord, ...] = ()

    def speech(self) -> SpeechSegment:
        return SpeechSegment(self.start, self.end, self.text)


@dataclass(frozen=True, slots=True)
class Transcript:
    language: str  # a key of WHISPER_LANGUAGES, or "" when no speech was found
    duration: float  # seconds
    segments: list[TimedSegment]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)


class WhisperTranscriber:
    """A `Transcriber` on a loaded faster-whisper model; safe to share between threads."""

    def __init__(self, model: Any, *, beam_size: int = 5, window_seconds: float = 30.0) -> None:
        self._model = model
        self._beam_size = beam_size
        self._window_seconds = window_seconds

    def transcribe(
        self,
        path: Path,
        *,
        progress: Callable[[float], None] | None = None,
        decoder: Decoder = IN_PROCESS,
    ) -> Iterator[SpeechSegment]:
        duration = decoder.call(probe_audio, path).duration
        options = TranscriptionOptions()
        for _, segment in self._segments(path, duration, options, progress, decoder):
            yield segment.speech()

    def transcribe_file(
        self,
        path: Path,
        options: TranscriptionOptions | None = None,
        *,
        progress: Callable[[float], None] | None = None,
        decoder: Decoder = IN_PROCESS,
    ) -> Transcript:
        """The whole transcript with the language spoken and Whisper's statistics."""
        options = options or TranscriptionOptions()
        duration = decoder.call(probe_audio, path).duration
        language = options.language or ""
        segments: list[TimedSegment] = []
        for found, segment in self._segments(path, duration, options, progress, decoder):
            language = language or found
            segments.append(segment)
        return Transcript(language, duration, segments)

    def _segments(
        self,
        path: Path,
        duration: float,
        options: TranscriptionOptions,
        progress: Callable[[float], None] | None,
        decoder: Decoder = IN_PROCESS,
    ) -> Iterator[tuple[str, TimedSegment]]:
        report = _Progress(duration, progress)
        language = options.language
        seconds = self._window_seconds
        search = min(10.0, seconds / 4)
        for window in decoder.iterate(audio_windows, path, seconds=seconds, cut_search=search):
            found, segments = self._window(window, options, language)
            for segment in segments:
                report(segment.end)
                yield found, segment
            if language is None and found:
                language = found
            report(window.start + window.duration)
        report(duration)

    def _window(
        self, window: AudioWindow, options: TranscriptionOptions, language: str | None
    ) -> tuple[str, Iterator[TimedSegment]]:
        from faster_whisper.vad import get_speech_timestamps  # type: ignore[import-untyped]

        # faster-whisper's own VAD filter joins the speech into one stream, so a segment can
        # run across a long silence and be timed from before it. Transcribing each stretch of
        # speech as a clip of its own keeps every segment inside the speech it transcribes.
        speech = get_speech_timestamps(window.samples, sampling_rate=SAMPLE_RATE)
        if not speech:
            return "", iter(())
        clips = [
            bound / SAMPLE_RATE for chunk in speech for bound in (chunk["start"], chunk["end"])
        ]
        temperature: float | tuple[float, ...] = options.temperature
        if options.temperature == 0:
            temperature = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
        raw, info = self._model.transcribe(
            window.samples,
            language=language,
            initial_prompt=options.prompt or None,
            temperature=temperature,
            beam_size=self._beam_size,
            clip_timestamps=clips,
            word_timestamps=options.word_timestamps,
        )
        return str(info.language), _timed(raw, window.start)


def _timed(raw: Iterator[Any], offset: float) -> Iterator[TimedSegment]:
    for s in raw:
        text = str(s.text).strip()
        if not text:
            continue
        yield TimedSegment(
            start=round(offset + float(s.start), 3),
            end=round(offset + float(s.end), 3),
            text=text,
            seek=round(offset * 100) + int(s.seek),
            tokens=tuple(int(t) for t in s.tokens),
            temperature=float(s.temperature or 0.0),
            avg_logprob=float(s.avg_logprob),
            compression_ratio=float(s.compression_ratio),
            no_speech_prob=float(s.no_speech_prob),
            words=tuple(
                TimedWord(
                    round(offset + float(w.start), 3),
                    round(offset + float(w.end), 3),
                    str(w.word),
                    float(w.probability),
                )
                for w in s.words or ()
            ),
        )


class _Progress:
    """Reports the share of the file done, never going back and never past 1."""

    def __init__(self, duration: float, sink: Callable[[float], None] | None) -> None:
        self._duration = duration
        self._sink = sink
        self._done = 0.0

    def __call__(self, seconds: float) -> None:
        share = min(1.0, seconds / self._duration) if self._duration > 0 else 1.0
        if self._sink is not None and share > self._done:
            self._done = share
            self._sink(share)


def transcribe_file(
    transcriber: Transcriber,
    path: Path,
    options: TranscriptionOptions | None = None,
    *,
    decoder: Decoder = IN_PROCESS,
) -> Transcript:
    """A whole transcript from any `Transcriber`: Whisper's in full (loading it if it is
    loaded on demand), another's (a test double) from its plain segments."""
    if isinstance(transcriber, OnDemandTranscriber):
        transcriber = transcriber.get()
    if isinstance(transcriber, WhisperTranscriber):
        return transcriber.transcribe_file(path, options, decoder=decoder)
    options = options or TranscriptionOptions()
    duration = decoder.call(probe_audio, path).duration
    segments = [
        TimedSegment(s.start, s.end, s.text) for s in transcriber.transcribe(path, decoder=decoder)
    ]
    return Transcript(options.language or "", duration, segments)


def whisper_model_dir(paths: dict[str, Path], cache_dir: Path, model_id: str) -> Path:
    """A directory holding the model's files under the names faster-whisper reads.

    Files already side by side under those names are used where they are; otherwise the
    directory is made of symbolic links under `cache_dir`. Each link is replaced
    atomically, so processes doing this at once agree on the result.
    """
    missing = [name for name in _MODEL_FILES if name not in paths]
    if missing:
        raise ModelUnavailableError(f"model '{model_id}' lacks {', '.join(missing)}")
    parents = {paths[name].parent for name in _MODEL_FILES}
    if len(parents) == 1 and all(paths[name].name == name for name in _MODEL_FILES):
        return parents.pop()
    target = cache_dir / "faster-whisper" / model_id
    target.mkdir(parents=True, exist_ok=True)
    for name in _MODEL_FILES:
        source = paths[name].resolve()
        link = target / name
        if link.is_symlink() and Path(os.readlink(link)) == source:
            continue
        temporary = target / f".{name}.{os.getpid()}.tmp"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(source)
        os.replace(temporary, link)
    return target


def load_whisper(
    registry: ModelRegistry,
    *,
    cache_dir: Path,
    model_id: str = WHISPER_BASE_ID,
    threads: int | None = None,
    beam_size: int = 5,
    window_seconds: float = 30.0,
) -> WhisperTranscriber:
    """The transcriber on a Whisper model of the registry, loaded once per process.

    `threads` are CTranslate2's compute threads (default: the machine's cores);
    `beam_size` 1 is greedy decoding, about a third faster on a CPU, slightly less exact.
    """
    threads = threads or os.cpu_count() or 1

    def loader(spec: ModelSpec, paths: dict[str, Path]) -> Any:
        from faster_whisper import WhisperModel  # type: ignore[import-untyped]

        return WhisperModel(
            str(whisper_model_dir(paths, cache_dir, spec.id)),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
            num_workers=1,
            local_files_only=True,
        )

    model = registry.load(model_id, loader, options=("faster-whisper", threads))
    return WhisperTranscriber(model, beam_size=beam_size, window_seconds=window_seconds)
