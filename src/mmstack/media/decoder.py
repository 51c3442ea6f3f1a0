"""Where untrusted files are decoded: in this process, or in a helper process with time and
memory budgets that is killed past them (`ingest/parsers/sandbox.py`).

The parsers and the transcriber call the decoding libraries (PDFium, Pillow, PyAV) through
a `Decoder`, and run the models (OCR, Whisper) on what it returns, here. A function given
to a decoder must be a module-level one, and its arguments and results picklable, so the
helper can run it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Decoder:
    """Runs decoding functions in this process."""

    def call(self, function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """`function(*args, **kwargs)`."""
        return function(*args, **kwargs)

    def iterate(
        self, function: Callable[P, Iterator[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> Iterator[T]:
        """The items of the iterator `function(*args, **kwargs)` returns, one at a time."""
        return function(*args, **kwargs)


IN_PROCESS = Decoder()
