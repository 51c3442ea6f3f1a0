"""A mixed load against a live `mmstack up`, at rising concurrency: simulated people (locust,
`bench/load_users.py`) search, ask grounded questions, upload files that the server's
worker ingests meanwhile, check their status and log in. Per level and kind: requests per
second, p50/p95/p99, 5xx, 429 (with and without `Retry-After`), timeouts; the server's
peak resident memory; files ingested during the level.

The model behind the grounded answers is `bench.fake_upstream` (an OpenAI-compatible server
answering at once): what is measured is mmstack's own work (retrieval, prompt, quotas,
citations), not a 2-core CPU generating text. Each simulated person uses one of `--accounts`
accounts with the default quotas (600 requests a minute each).

    PYTHONPATH=. .venv/bin/python -m bench.load [--levels 10,25,50] [--seconds 60]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import free_port, print_table, start_server, stop_server, wait_ready

COLLECTION = "notes"
SEED_FILES = 60


def seed(folder: Path) -> None:
    topics = ("lighthouse", "ferry", "harbour crane", "storm", "tides", "cargo manifest")
    folder.mkdir(parents=True)
    for i in range(SEED_FILES):
        topic = topics[i % len(topics)]
        (folder / f"seed-{i:03}.txt").write_text(
            f"Entry {i}. The {topic} report of day {i}: the crew checked the {topic} at "
            f"{i % 24}:00 and wrote that the ferry leaves at {6 + i % 4}:30 in winter. "
            f"The storm of week {i % 52} damaged the {topics[(i + 2) % len(topics)]}.\n" * 4
        )


def mmstack(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "mmstack", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(done.stdout)


class MemoryWatch:
    """The peak resident memory of a process and its children, sampled every second."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            try:
                family = [self._process, *self._process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in family))
            except psutil.Error:
                pass


def completed(client: httpx.Client, key: str) -> int:
    answer = client.get(f"/api/collections/{COLLECTION}", headers={"Authorization": key})
    answer.raise_for_status()
    counts: dict[str, int] = answer.json()["file_counts"]
    return counts["completed"]


def run_level(
    url: str, users: int, seconds: int, env: dict[str, str], results: Path
) -> tuple[list[dict[str, str]], Counter[str]]:
    prefix = results / f"level-{users}"
    subprocess.run(
        [
            sys.executable, "-m", "locust",
            "-f", str(Path(__file__).with_name("load_users.py")),
            "--headless", "--only-summary",
            "-u", str(users), "-r", str(users),
            "-t", f"{seconds}s",
            "--host", url,
            "--csv", str(prefix),
        ],
        env=env,
        capture_output=True,
        check=False,
        timeout=seconds + 120,
    )  # fmt: skip
    with open(f"{prefix}_stats.csv", newline="") as handle:
        stats = [row for row in csv.DictReader(handle) if row["Name"] != "Aggregated"]
    failures: Counter[str] = Counter()
    with open(f"{prefix}_failures.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            failures[f"{row['Name']}: {row['Error']}"] += int(row["Occurrences"])
    return stats, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="10,25,50", help="Concurrent people, in turn")
    parser.add_argument("--seconds", type=int, default=60, help="Length of each level")
    parser.add_argument("--accounts", type=int, default=10, help="Accounts the people share")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="mmstack-load-") as root:
        run(Path(root), levels, args.seconds, args.accounts)


def run(root: Path, levels: list[int], seconds: int, accounts: int) -> None:
    upstream_port, port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")}
    env |= {
        "MMSTACK_DATA_DIR": str(root / "data"),
        "MMSTACK_LLM__EMBEDDED__ENABLED": "false",
        "MMSTACK_LLM__DEFAULT_MODEL": "fake-model",
        "MMSTACK_LLM__UPSTREAMS": json.dumps(
            [
                {
                    "name": "fake",
                    "base_url": f"http://127.0.0.1:{upstream_port}/v1",
                    "models": ["fake-model"],
                }
            ]
        ),
    }
    seed(root / "seed")
    subprocess.run(
        [sys.executable, "-m", "mmstack", "ingest", str(root / "seed"), "-c", COLLECTION],
        env=env, capture_output=True, check=True, timeout=900,
    )  # fmt: skip
    keys, logins = [], []
    for i in range(accounts):
        made = mmstack(env, "users", "create", f"load-{i}", "--role", "developer")
        logins.append(f"load-{i}:{made['password']}")
        keys.append(mmstack(env, "keys", "create", "--user", f"load-{i}", "--name", "load")["key"])
    load_env = {
        **env,
        "LOAD_KEYS": ",".join(keys),
        "LOAD_LOGINS": ",".join(logins),
        "LOAD_COLLECTION": COLLECTION,
    }
    upstream = start_server(
        [sys.executable, "-m", "bench.fake_upstream", "--port", str(upstream_port)],
        env,
        root / "upstream.log",
    )
    server = start_server(
        [sys.executable, "-m", "mmstack", "up", "--port", str(port)], env, root / "server.log"
    )
    url = f"http://127.0.0.1:{port}"
    rows, failure_rows = [], []
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            wait_ready(client, server, root / "server.log")
            key = f"Bearer {keys[0]}"
            for users in levels:
                before = completed(client, key)
                with MemoryWatch(server.pid) as memory:
                    stats, failures = run_level(url, users, seconds, load_env, root)
                ingested = completed(client, key) - before
                for row in stats:
                    rows.append(
                        (
                            users,
                            row["Name"],
                            row["Request Count"],
                            f"{float(row['Requests/s']):.1f}",
                            row["50%"],
                            row["95%"],
                            row["99%"],
                            row["Failure Count"],
                        )
                    )
                fives = sum(n for what, n in failures.items() if what.split(": ")[1][:1] == "5")
                limited = sum(n for what, n in failures.items() if "429 with" in what)
                bare = sum(n for what, n in failures.items() if "429 NO" in what)
                lost = sum(n for what, n in failures.items() if "no answer" in what)
                failure_rows.append(
                    (users, fives, limited, bare, lost, f"{memory.peak / 1e6:.0f}", ingested)
                )
                for what, count in sorted(failures.items()):
                    print(f"  {users} people: {what} x{count}")
    finally:
        stop_server(server)
        stop_server(upstream)
    print_table(
        ["people", "kind", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "failures"], rows
    )
    print()
    print_table(
        [
            "people", "5xx", "429 with Retry-After", "429 without", "no answer",
            "server peak RSS MB", "files ingested meanwhile",
        ],
        failure_rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
