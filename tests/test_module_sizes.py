"""Modules stay small: at most 400 lines, unless a comment near the top says why."""

from __future__ import annotations

from pathlib import Path

SOURCE = Path(__file__).parents[1] / "src" / "mmstack"
LIMIT = 400
WHY = "# Longer than 400 lines:"


def over_budget(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > LIMIT and not any(line.startswith(WHY) for line in lines[:40]):
            found.append(f"{path.relative_to(root)}: {len(lines)} lines")
    return found


def test_every_module_is_within_its_budget() -> None:
    assert over_budget(SOURCE) == []


def test_a_long_module_without_a_reason_is_found(tmp_path: Path) -> None:
    (tmp_path / "long.py").write_text("x = 1\n" * (LIMIT + 1))
    (tmp_path / "explained.py").write_text(f"{WHY} a reason\n" + "x = 1\n" * LIMIT)
    (tmp_path / "short.py").write_text("x = 1\n" * LIMIT)
    assert over_budget(tmp_path) == [f"long.py: {LIMIT + 1} lines"]
