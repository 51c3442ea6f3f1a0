"""How fast the `mmstack` command answers: wall time (median of runs) and peak resident
memory of each command, against `python -c pass` in the same run.

- `mmstack --version` and `--help`: no stack, no database (issue 15's target: 0.3 s);
- `mmstack users list --json`: one table of the accounts database (target: 1 s);
- `mmstack collections list --json`: opens the whole stack today (models, indexes);
- `mmstack up` (embedded LLM off): seconds until `/healthz` answers, and until `/readyz`
  does, and the server's resident memory idle after that (target: 3 s, 300 MB).

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

import httpx

from bench.common import free_port, print_table, start_server, stop_server

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


def server_start(env: dict[str, str], log: Path) -> tuple[float, float, float]:
    """Seconds to `/healthz`, to `/readyz`, and resident MB idle once ready."""
    port = free_port()
    env = {**env, "MMSTACK_LLM__EMBEDDED__ENABLED": "false"}
    argv = [sys.executable, "-m", "mmstack", "up", "--port", str(port)]
    started = time.perf_counter()
    process = start_server(argv, env, log)
    healthy = ready = 0.0
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
            while not ready:
                if process.poll() is not None:
                    sys.exit(f"the server exited: {log.read_text(errors='replace')[-2000:]}")
                if time.perf_counter() - started > 180:
                    sys.exit("the server was not ready in 180 s")
                for path in ("/healthz", "/readyz"):
                    try:
                        answered = client.get(path).status_code == 200
                    except httpx.HTTPError:
                        answered = False
                    if answered and path == "/healthz" and not healthy:
                        healthy = time.perf_counter() - started
                    if answered and path == "/readyz":
                        ready = time.perf_counter() - started
                time.sleep(0.05)
        time.sleep(5)  # models a server loads in the background are loaded by then
        status = Path(f"/proc/{process.pid}/status").read_text()
        resident_mb = int(status.split("VmRSS:")[1].split()[0]) / 1024
    finally:
        stop_server(process)
    return healthy, ready, resident_mb


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
    starts = [server_start(env, data_dir / "server.log") for _ in range(args.runs)]
    print()
    print_table(
        ["mmstack up (LLM off)", "median", "max"],
        [
            (label, f"{statistics.median(v):.2f}", f"{max(v):.2f}")
            for label, v in (
                ("s to /healthz", [h for h, _, _ in starts]),
                ("s to /readyz", [r for _, r, _ in starts]),
                ("resident MB, idle", [m for _, _, m in starts]),
            )
        ],
    )


if __name__ == "__main__":
    main()
