"""Document parsers in a helper process with time and memory budgets (`sandbox.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmstack.config.settings import IngestSettings, Settings
from mmstack.errors import IngestError
from mmstack.ingest.parsers import ParseLimits, parse_file
from mmstack.ingest.parsers.context import Isolation, ParseContext
from mmstack.ingest.parsers.sandbox import _local
from mmstack.stack import open_stack
from mmstack.store.models import FileStatus

ISOLATED = ParseContext(isolation=Isolation(timeout_seconds=60, memory_bytes=2 * 1024**3))


def _helper_pid() -> int:
    return int(_local.helper.process.pid)


def _big_json(path: Path) -> Path:
    """About 40 MB of records: a few hundred MB to parse."""
    path.write_text("[" + ",".join(f'{{"a": "{i}"}}' for i in range(3_000_000)) + "]")
    return path


def test_a_document_parses_the_same_in_the_helper(tmp_path: Path) -> None:
    page = tmp_path / "notes.md"
    page.write_text("# Otters\n\nOtters hold hands while they sleep.\n\n- one\n- two\n")
    here = parse_file(page, filename="notes.md")
    isolated = parse_file(page, filename="notes.md", context=ISOLATED)
    assert isolated == here
    first = _helper_pid()
    parse_file(page, filename="notes.md", context=ISOLATED)
    assert _helper_pid() == first  # kept for the next file
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": ')
    with pytest.raises(IngestError, match="JSON"):
        parse_file(broken, filename="broken.json", context=ISOLATED)
    assert _helper_pid() == first  # a file's error is not the helper's


def test_a_parse_past_its_time_is_stopped(tmp_path: Path) -> None:
    deep = tmp_path / "deep.html"
    deep.write_bytes(b"<div>" * 80_000)  # tens of seconds in the tree builder
    slow = ParseContext(
        limits=ParseLimits(max_html_depth=10**6),
        isolation=Isolation(timeout_seconds=1, memory_bytes=2 * 1024**3),
    )
    with pytest.raises(IngestError, match=r"took longer than 1 s, over the limit"):
        parse_file(deep, filename="deep.html", context=slow)
    page = tmp_path / "a.txt"
    page.write_text("Still parsing after that.")
    assert parse_file(page, filename="a.txt", context=ISOLATED).elements


def test_a_parse_past_its_memory_is_stopped(tmp_path: Path) -> None:
    big = _big_json(tmp_path / "big.json")
    small = ParseContext(isolation=Isolation(timeout_seconds=60, memory_bytes=400 * 1024**2))
    with pytest.raises(IngestError, match=r"more than its memory budget of 400.0 MiB"):
        parse_file(big, filename="big.json", context=small)
    page = tmp_path / "a.txt"
    page.write_text("Still parsing after that.")
    assert parse_file(page, filename="a.txt", context=small).elements


def test_the_worker_fails_only_that_file(tmp_path: Path, settings: Settings) -> None:
    tight = settings.model_copy(
        update={
            "ingest": IngestSettings(workers=0, max_attempts=1, parse_memory_bytes=400 * 1024**2)
        }
    )
    with open_stack(tight) as stack:
        cid = stack.collections.create("c").id
        big = stack.ingestion.add_file(cid, "big.json", _big_json(tmp_path / "b.json").read_bytes())
        fine = stack.ingestion.add_file(cid, "fine.json", json.dumps([{"a": "otters"}]).encode())
        stack.worker.run_until_idle()
        failed = stack.collections.file(cid, big.collection_file.file_id)
        assert failed.status == FileStatus.FAILED
        assert "memory budget of 400.0 MiB" in (failed.last_error or "")
        done = stack.collections.file(cid, fine.collection_file.file_id)
        assert done.status == FileStatus.COMPLETED
