"""The import-layer contracts of `pyproject.toml` ([tool.importlinter]): each package imports
only the layers below it, and no modules of one package import each other in a cycle."""

from __future__ import annotations

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
    assert "Contracts: 2 kept, 0 broken." in result.stdout


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
