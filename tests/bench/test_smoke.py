"""Every benchmark still runs: each script at sizes that take seconds, so one that no longer
works (an API it calls changed, a login it lacks) fails the tests. The figures they print at
these sizes mean nothing; bench/README.md holds the real runs.

The benchmarks over the retrieval collections of ../shared/data and the handbook pages
(fetched with apt-get), and those that run the LLM over whole question sets, are checked
to start (`--help`: their imports and arguments), not run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_DSN

ROOT = Path(__file__).parents[2]


def _run(module: str, *args: str, timeout: float = 300) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MMSTACK_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{module} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _a_table(output: str) -> None:
    """The printed table: a header row over a rule of dashes."""
    assert any(
        set(line.replace("|", "").replace("+", "").strip()) == {"-"} for line in output.splitlines()
    ), output


def test_startup() -> None:
    _a_table(_run("bench.startup", "--runs", "1"))


def test_auth() -> None:
    _a_table(_run("bench.auth", "--iterations", "20", "--requests", "20", "--block", "10"))


def test_gateway() -> None:
    output = _run(
        "bench.gateway",
        "--requests", "10",
        "--per-round", "5",
        "--clients", "1",
        "--warmup", "0.1",
        "--duration", "0.5",
        "--no-litellm",
    )  # fmt: skip
    _a_table(output)


def test_speed(tmp_path: Path) -> None:
    output = _run(
        "bench.speed",
        "--chunks", "300",
        "--docs", "4",
        "--queries", "4",
        "--workdir", str(tmp_path),
    )  # fmt: skip
    _a_table(output)


def test_media(tmp_path: Path) -> None:
    _a_table(_run("bench.media", "--minutes", "1", "--pages", "1", "--workdir", str(tmp_path)))


def test_hostile_uploads() -> None:
    output = _run(
        "bench.hostile_uploads", "--uploads", "4", "--scale", "0.001", "--idle-seconds", "1"
    )
    _a_table(output)


def test_backup(tmp_path: Path) -> None:
    output = _run(
        "bench.backup", "--gigabytes", "0.002", "--files", "3", "--data-dir", str(tmp_path / "b")
    )
    _a_table(output)
    assert not (tmp_path / "b").exists()  # cleaned up without --keep


def test_load() -> None:
    _a_table(_run("bench.load", "--levels", "2", "--seconds", "5", "--accounts", "1"))


def test_metrics_cost() -> None:
    _a_table(_run("bench.metrics_cost", "--blocks", "1", "--per-block", "5"))


@pytest.mark.postgres
def test_scale_out(tmp_path: Path) -> None:
    # One count (2 worker processes) runs every part: workers, the model alone in 2
    # processes, the second API process and the searches (PostgreSQL, Redis, moto_server).
    output = _run(
        "bench.scale_out",
        "--files", "2",
        "--counts", "2",
        "--searches", "3",
        "--pg", PG_DSN,
        "--results", str(tmp_path),
    )  # fmt: skip
    _a_table(output)
    assert (tmp_path / "scale_out.json").is_file()


@pytest.mark.parametrize(
    "module",
    [
        "bench.retrieval",
        "bench.fusion_folds",
        "bench.grounded_qa",
        "bench.handbook",
        "bench.handbook_qa",
        "bench.console",
        "bench.tool_calls",
    ],
)
def test_the_others_start(module: str) -> None:
    assert "usage:" in _run(module, "--help")
