"""Checks a zip container (DOCX) from its central directory before anything is inflated.

Python's zipfile never inflates a member past the size its directory entry declares, so
bounding the declared sizes bounds what a library reading the archive can be made to
allocate.
"""

from __future__ import annotations

import io
import struct
import zipfile

from mmstack.errors import IngestError

from .detect import ZIP_MAGIC, describe_signature
from .limits import ParseLimits, format_bytes


def check_zip_container(data: bytes, limits: ParseLimits, *, label: str) -> list[str]:
    """Validate the archive; returns its member names. `label` names the format (DOCX)."""
    if not data.startswith(ZIP_MAGIC):
        what = describe_signature(data[:16])
        detail = f"the content is {what}" if what else "it is not a ZIP archive"
        raise IngestError(f"not a {label} file: {detail}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as exc:
        raise IngestError(f"{label} is corrupt: not a readable ZIP archive ({exc})") from None
    with archive:
        members = archive.infolist()
    if len(members) > limits.max_zip_entries:
        raise IngestError(
            f"{label} has {len(members)} parts, over the limit of {limits.max_zip_entries}"
        )
    total = 0
    for member in members:
        if member.flag_bits & 0x1:
            raise IngestError(f"{label} is encrypted (password-protected)")
        _check_ratio(member, limits, label)
        total += member.file_size
        if total > limits.max_uncompressed_bytes:
            raise IngestError(
                f"{label} is too large uncompressed: its parts add up to more than "
                f"{format_bytes(limits.max_uncompressed_bytes)}"
            )
    return [member.filename for member in members]


def _check_ratio(member: zipfile.ZipInfo, limits: ParseLimits, label: str) -> None:
    if member.file_size <= limits.ratio_min_bytes:
        return
    ratio = member.file_size / max(member.compress_size, 1)
    if ratio > limits.max_compression_ratio:
        raise IngestError(
            f"{label} looks like a zip bomb: part '{member.filename}' expands from "
            f"{format_bytes(member.compress_size)} to {format_bytes(member.file_size)} "
            f"(ratio {ratio:.0f}:1, limit {limits.max_compression_ratio:.0f}:1)"
        )
