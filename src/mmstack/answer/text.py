"""Word-level text features for checking an answer against a passage: content words
stemmed (Snowball's English stemmer), numbers in one normal form, and passage sentences
with their offsets."""

from __future__ import annotations

import functools
import re
import threading

import snowballstemmer

_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")

STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not of off on once only or other
    our ours out over own same she should so some such than that the their theirs them then
    there these they this those through to too under until up very was we were what when
    where which while who whom why will with would you your yours per via among within
    upon whether either neither one ones used using use based passage passages document
    documents according study text mentioned stated states shows shown found reported
    answer question given provided""".split()
)

_NUMBER_WORDS = {
    "zero": "0",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
}
_stemmers = threading.local()  # a Snowball stemmer keeps state while it works


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    stemmer = getattr(_stemmers, "english", None)
    if stemmer is None:
        stemmer = _stemmers.english = snowballstemmer.stemmer("english")
    stem: str = stemmer.stemWord(word)
    return stem


def _number(token: str) -> str | None:
    if token in _NUMBER_WORDS:
        return _NUMBER_WORDS[token]
    if not token[0].isdigit():
        return None
    plain = token.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+", token) else token
    try:
        value = float(plain)
    except ValueError:
        return plain  # 5,6 or 1.2.3: compared as written
    return f"{value:g}"


def tokens(text: str) -> list[str]:
    # A sentence-final period is not part of a number: "14." -> "14".
    return [t.rstrip(".,") for t in _WORD.findall(text.lower())]


def content_words(text: str) -> set[str]:
    """Stemmed words that carry meaning (no stop words), numbers in their normal form."""
    found = set()
    for token in tokens(text):
        number = _number(token)
        if number is not None:
            found.add(number)
        elif token not in STOP_WORDS and len(token) > 1:
            found.add(_stem(token))
    return found


def numbers(text: str) -> set[str]:
    return {n for t in tokens(text) if (n := _number(t)) is not None}


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


def sentence_spans(text: str, *, min_chars: int = 25) -> list[tuple[int, int]]:
    """Character spans of the sentences of a passage. Lenient (passages are often lower-case,
    with spaced periods): any `.`, `!`, `?` or `;` before space, or a line break, ends one.
    A fragment without end punctuation (a heading, a wrapped line) joins the next one; a
    fragment shorter than `min_chars` ("1.8 ug." then "per 100 ml.") joins the one before,
    or the next one when none is before."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.start()
        if text[start:end].strip():
            spans.append((start, end))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    merged: list[tuple[int, int]] = []
    pending: int | None = None  # start of fragments waiting to join the next one
    for position, (begin, end) in enumerate(spans):
        last = position == len(spans) - 1
        first = begin if pending is None else pending
        if not last and text[begin:end].rstrip()[-1] not in ".!?;:":
            pending = first  # a heading or a wrapped line: it belongs to what follows
        elif end - begin < min_chars and merged and pending is None:
            merged[-1] = (merged[-1][0], end)
        elif end - first < min_chars and not last:
            pending = first
        else:
            merged.append((first, end))
            pending = None
    return merged


def skip_headings(text: str, start: int, end: int) -> int:
    """Where the span `start:end` of `text` begins once the paragraphs opening it without
    end punctuation (headings) are left out; `start` when nothing else would be left."""
    position = start
    while (blank := text.find("\n\n", position, end)) != -1:
        line = text[position:blank].strip()
        if line and line[-1] in ".!?;:":
            break
        position = blank + 2
    rest = text[position:end]
    return position + (len(rest) - len(rest.lstrip())) if rest.strip() else start
