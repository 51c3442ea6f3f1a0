"""Resource limits every parser enforces, so one hostile file cannot exhaust the worker."""

from __future__ import annotations

from dataclasses import dataclass

from mmstack.errors import IngestError

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ParseLimits:
    max_bytes: int = 100 * _MIB
    """Largest file accepted, as stored (compressed, for zip containers)."""
    max_pages: int = 2000
    max_elements: int = 500_000
    """Most text blocks (paragraphs, rows, records...) one document may produce."""
    max_uncompressed_bytes: int = 256 * _MIB
    """Sum of the declared sizes of all members of a zip container (DOCX)."""
    max_part_bytes: int = 64 * _MIB
    """Largest declared size of one member of a zip container: its XML is parsed whole."""
    max_xml_elements: int = 2_000_000
    """Most XML elements in a container's parts (counted streaming, before the parse that
    keeps them all: about 150 bytes of memory each)."""
    max_compression_ratio: float = 100.0
    """Largest uncompressed/compressed ratio for a zip member bigger than `ratio_min_bytes`."""
    ratio_min_bytes: int = 1 * _MIB
    max_zip_entries: int = 10_000
    max_html_depth: int = 512
    """Deepest nesting of HTML elements (Chromium's parser stops nesting at 512 too): the
    HTML tree builder's time grows faster than the depth (40,000 levels take seconds)."""
    max_image_pixels: int = 64_000_000
    """Largest image (width times height, in pixels) decoded: a picture, a frame, a page render."""

    def check_input(self, data: bytes) -> None:
        """Reject empty and oversized input before any parser looks at it."""
        self.check_size(len(data))

    def check_size(self, size: int) -> None:
        if not size:
            raise IngestError("file is empty")
        if size > self.max_bytes:
            raise IngestError(
                f"file is {format_bytes(size)}, over the {format_bytes(self.max_bytes)} limit"
            )


def format_bytes(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"
