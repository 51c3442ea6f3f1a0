"""`mmstack collections export` and `import` as a user runs them: real processes on two
data directories."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import _run


def test_a_collection_moves_between_data_directories(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    notes = tmp_path / "lighthouse.txt"
    notes.write_text("The lighthouse keeper logs the tides at dawn.")
    _run(source, "ingest", str(notes), "--collection", "notes", "--tag", "coast")
    _run(source, "collections", "create", "empty")
    archive = tmp_path / "notes.tar.gz"

    exported = json.loads(
        _run(source, "collections", "export", "notes", str(archive), "--json").stdout
    )
    assert (exported["files"], exported["chunks"], exported["archive"]) == (1, 1, str(archive))
    imported = json.loads(_run(target, "collections", "import", str(archive), "--json").stdout)
    assert (imported["name"], imported["files"], imported["chunks"]) == ("notes", 1, 1)
    shown = json.loads(_run(target, "collections", "show", "notes", "--json").stdout)
    assert [(f["filename"], f["status"], f["tags"]) for f in shown["files"]] == [
        ("lighthouse.txt", "completed", ["coast"])
    ]
    hits = json.loads(_run(target, "search", "who logs the tides", "--json").stdout)
    assert hits[0]["filename"] == "lighthouse.txt"

    again = _run(target, "collections", "import", str(archive), check=False)
    assert again.returncode == 1
    assert "'notes' already exists" in again.stderr
    assert "--name" in again.stderr
    empty = tmp_path / "empty.tar"
    _run(source, "collections", "export", "empty", str(empty))
    assert "0 files, 0 chunks" in _run(target, "collections", "import", str(empty)).stdout


def test_bad_paths_give_clear_errors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _run(data, "collections", "create", "docs")
    taken = tmp_path / "taken.tar"
    taken.write_bytes(b"not an archive")
    for args, message in [
        (("export", "nope", str(tmp_path / "a.tar")), "collection 'nope' not found"),
        (("export", "docs", str(tmp_path / "no" / "dir" / "a.tar")), "does not exist"),
        (("export", "docs", str(tmp_path / "a.zip")), "must end in .tar, .tar.gz or .tgz"),
        (("export", "docs", str(taken)), "already exists"),
        (("import", str(tmp_path / "missing.tar")), "not found"),
        (("import", str(taken)), "is not a readable collection archive"),
    ]:
        result = _run(data, "collections", *args, check=False)
        assert result.returncode == 1, args
        assert message in " ".join(result.stderr.split()), (args, result.stderr)
