"""How fast the `mmstack` command answers: wall time (median of runs) and peak resident
memory of each command, against `python -c pass` in the same run.

- `mmstack --version` and `--help`: no stack, no database (issue 15's target: 0.3 s);
- `mmstack users list --json`: one table of the accounts database (target: 1 s);
- `mmstack collections list --json`: opens the whole stack today (models, indexes).

    .venv/bin/python -m bench.startup [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import print_table

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass", ["-c", "pass"]),
    ("mmstack --version", ["-m", "mmstack", "--version"]),
    ("mmstack --help", ["-m", "mmstack", "--help"]),
    ("mmstack users list --json", ["-m", "mmstack", "users", "list", "--json"]),
    ("mmstack collections list --json", ["-m", "mmstack", "collections", "list", "--json"]),
]


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak resident KB of one run (the child's own rusage)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        error = process.stderr.read().decode() if process.stderr else ""
        sys.exit(f"{' '.join(argv)} failed: {error}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="mmstack-bench-startup-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")}
    env |= {
        "MMSTACK_DATA_DIR": str(data_dir),
        "MMSTACK_AUTH__INITIAL_ADMIN_PASSWORD": "Bench-Startup-Quokka-7391",
    }
    measure(["-m", "mmstack", "collections", "list"], env)  # the first run makes the data dir
    rows = []
    baseline = 0.0
    for label, argv in COMMANDS:
        runs = [measure(argv, env) for _ in range(args.runs)]
        wall = statistics.median(t for t, _ in runs)
        peak_mb = max(kb for _, kb in runs) / 1024
        baseline = baseline or wall
        rows.append((label, f"{wall:.3f}", f"{wall / baseline:.1f}", f"{peak_mb:.0f}"))
    print_table(["command", "wall s (median)", "ratio to python -c pass", "peak MB"], rows)


if __name__ == "__main__":
    main()
