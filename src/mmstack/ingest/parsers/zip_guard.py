"""Checks a zip container (DOCX) from its central directory before anything is inflated,
then its XML parts as a stream, before a library parses them whole.

Python's zipfile never inflates a member past the size its directory entry declares, so
bounding the declared sizes bounds what a library reading the archive can be made to
allocate; counting the elements of each XML part, inflated and parsed a piece at a time
and thrown away as it goes, bounds the tree a library then builds from it.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from lxml import etree

from mmstack.errors import IngestError
from mmstack.media.detect import ZIP_MAGIC, describe_signature

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
        if member.file_size > limits.max_part_bytes:
            raise IngestError(
                f"{label} part '{member.filename}' is {format_bytes(member.file_size)} "
                f"uncompressed, over the limit of {format_bytes(limits.max_part_bytes)}"
            )
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


def check_xml_parts(data: bytes, limits: ParseLimits, *, label: str) -> None:
    """Count the elements of every XML part as it streams (inflated a piece at a time,
    each element dropped once counted); more than `limits.max_xml_elements` in all, or XML
    that does not parse, is refused before anything keeps a whole tree in memory."""
    elements = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.infolist():
            if not member.filename.endswith((".xml", ".rels")):
                continue
            with archive.open(member) as stream:
                try:
                    for _event, element in etree.iterparse(
                        stream, events=("end",), resolve_entities=False, no_network=True
                    ):
                        elements += 1
                        if elements > limits.max_xml_elements:
                            raise IngestError(
                                f"{label} has more than {limits.max_xml_elements:,} XML "
                                "elements, over the limit"
                            )
                        element.clear()
                        while element.getprevious() is not None:
                            del element.getparent()[0]
                except etree.XMLSyntaxError as exc:
                    raise IngestError(
                        f"{label} is corrupt: part '{member.filename}' is not well-formed XML "
                        f"({exc})"
                    ) from None
                except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                    raise IngestError(
                        f"{label} is corrupt: part '{member.filename}' does not inflate ({exc})"
                    ) from None
