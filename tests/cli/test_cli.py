"""The `mmstack` command as a user runs it: a real process on a real data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from docx import Document

from tests.documents import PAGE_TEXTS, make_pdf


def _run(
    data_dir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`mmstack` in a process of its own, with none of this one's MMSTACK_ settings (`env`
    adds some)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")}
    result = subprocess.run(
        [sys.executable, "-m", "mmstack", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env={**inherited, "COLUMNS": "200", **(env or {})},
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    (folder / "report.pdf").write_bytes(make_pdf(PAGE_TEXTS))
    (folder / "broken.pdf").write_bytes(make_pdf(["A page that will be cut short."])[:300])
    (folder / "notes.md").write_text("# Trip\n\n## Day one\n\nWe hiked to the glacier lake.\n")
    (folder / "page.html").write_text(
        "<html><head><title>Menu</title><script>x()</script></head>"
        "<body><h1>Soups</h1><p>Leek and potato soup with chives.</p></body></html>"
    )
    (folder / "sub" / "plants.csv").write_text("plant,water\nfern,daily\ncactus,monthly\n")
    (folder / "sub" / "config.json").write_text('{"service": "billing", "owner": "ops team"}')
    (folder / "sub" / "plain.txt").write_text("The lighthouse keeper logs the tides.")
    document = Document()
    document.add_heading("Handbook", level=1)
    document.add_paragraph("Expense reports are due on the fifth working day.")
    document.save(str(folder / "sub" / "handbook.docx"))
    return folder


def test_ingest_mixed_folder_then_search(tmp_path: Path, mixed_folder: Path) -> None:
    data = tmp_path / "data"
    result = _run(data, "ingest", str(mixed_folder), "--collection", "inbox", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "ingestion summary" in out
    assert "7 completed, 1 failed" in out
    assert "broken.pdf" in out
    assert "PDF" in out

    listed = json.loads(_run(data, "collections", "list", "--json").stdout)
    assert listed[0]["name"] == "inbox"
    assert listed[0]["file_counts"] == {
        "queued": 0,
        "in_progress": 0,
        "completed": 7,
        "failed": 1,
        "total": 8,
    }

    hits = json.loads(
        _run(
            data, "search", "corrosion of titanium valves in the desalination plant", "--json"
        ).stdout
    )
    assert hits[0]["filename"] == "report.pdf"
    assert hits[0]["anchor"]["page_start"] == 3
    for query, filename in [
        ("expense reports due date", "handbook.docx"),
        ("how often to water a cactus", "plants.csv"),
        ("leek soup", "page.html"),
        ("who owns the billing service", "config.json"),
    ]:
        top = json.loads(_run(data, "search", query, "--json", "-k", "1").stdout)[0]
        assert top["filename"] == filename, (query, top)

    human = _run(data, "search", "glacier lake hike").stdout
    assert "notes.md" in human
    assert "Trip > Day one" in human

    again = _run(data, "ingest", str(mixed_folder / "notes.md"), "--collection", "inbox")
    assert "duplicate" in again.stdout


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    data = tmp_path / "data"
    missing = _run(data, "search", "x", "--collection", "nope", check=False)
    assert missing.returncode == 1
    assert "collection 'nope' not found" in missing.stderr
    _run(data, "collections", "create", "docs")
    dup = _run(data, "collections", "create", "docs", check=False)
    assert dup.returncode == 1
    assert "already exists" in dup.stderr
    gone = _run(data, "ingest", str(tmp_path / "nothing-here"), "--collection", "docs", check=False)
    assert gone.returncode == 1
    assert "not found" in gone.stdout
    bad_mode = _run(data, "search", "x", "--mode", "psychic", check=False)
    assert bad_mode.returncode == 1
    assert "unknown mode" in bad_mode.stderr


def test_models_list_and_verify(tmp_path: Path) -> None:
    models = json.loads(_run(tmp_path, "models", "list", "--json").stdout)
    assert models[0]["id"] == "all-minilm-l6-v2-int8"
    assert models[0]["available"]
    verify = _run(tmp_path, "models", "verify")
    assert "all-minilm-l6-v2-int8: ok" in verify.stdout


def test_version_and_help_answer_without_loading_the_stack(tmp_path: Path) -> None:
    """`--version` was refused ("Missing command") before it was an eager option; neither
    it nor `--help` imports the stack (models, indexes, the database layer)."""
    from mmstack import __version__

    assert _run(tmp_path, "--version").stdout.strip() == __version__
    assert "collections" in _run(tmp_path, "--help").stdout
    probe = (
        "import sys, runpy; sys.argv = ['mmstack', '--help']\n"
        "try:\n    runpy.run_module('mmstack', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = ('mmstack.stack', 'sqlalchemy', 'pydantic', 'onnxruntime', 'numpy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip().splitlines()[-1] == "[]", loaded.stdout


def test_migrate_brings_the_schema_to_head_once(tmp_path: Path) -> None:
    from mmstack.store.migrate import HEAD

    data = tmp_path / "data"
    data.mkdir()
    first = _run(data, "migrate")
    assert f"from revision none to {HEAD}" in first.stdout
    again = _run(data, "migrate")
    assert f"at revision {HEAD}: nothing to do" in again.stdout
