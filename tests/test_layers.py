"""The import-layer contracts of `pyproject.toml` ([tool.importlinter]): each package imports
only the layers below it, and no modules of one package import each other in a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_layers_hold() -> None:
    result = _lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_a_layer_importing_one_above_it_breaks_the_contract(tmp_path: Path) -> None:
    # models imports media, so media above models is a broken contract: the check sees imports.
    config = tmp_path / "upside_down.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "mmstack"\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "media above models"\ntype = "layers"\n'
        'layers = ["mmstack.media", "mmstack.models"]\n'
    )
    result = _lint("--config", str(config))
    assert result.returncode == 1
    assert "mmstack.models.ocr -> mmstack.media.images" in result.stdout


# The statements that query or change rows: services build none of them, they call the
# repositories of `mmstack.store` (and use the session only as the unit of work).
QUERY_BUILDERS = {
    "select",
    "update",
    "delete",
    "insert",
    "func",
    "text",
    "case",
    "tuple_",
    "bindparam",
}
SERVICE_PACKAGES = ("knowledge", "auth", "api", "cli")
# Services in packages that also hold query engines of their own (the keyword index and
# its filters stay in `mmstack.index`): these modules are scanned one by one.
SERVICE_MODULES = (
    "llm/stored_responses.py",
    "ingest/ingest_job.py",
    "ingest/reconcile.py",
    "index/search.py",
)


def _query_builders_imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy"
        for alias in node.names
        if alias.name in QUERY_BUILDERS
    }


def test_services_and_routes_leave_sql_to_the_store() -> None:
    paths = [
        *(
            path
            for package in SERVICE_PACKAGES
            for path in sorted((ROOT / "src/mmstack" / package).rglob("*.py"))
        ),
        *(ROOT / "src/mmstack" / module for module in SERVICE_MODULES),
    ]
    found = {
        str(path.relative_to(ROOT)): sorted(names)
        for path in paths
        if (names := _query_builders_imported(path))
    }
    assert found == {}


def test_the_sql_check_sees_a_query(tmp_path: Path) -> None:
    module = tmp_path / "service.py"
    module.write_text("from sqlalchemy import select, update\nfrom sqlalchemy.orm import Session\n")
    assert _query_builders_imported(module) == {"select", "update"}
