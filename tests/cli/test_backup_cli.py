"""`mmstack backup`, `wipe` and `restore` as an operator runs them: real processes on a real
data directory, the repository in its default place beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _run(
    data_dir: Path,
    *args: str,
    check: bool = True,
    answer: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")}
    result = subprocess.run(
        [sys.executable, "-m", "mmstack", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        input=answer,
        env={**clean, **(env or {}), "COLUMNS": "200", "MMSTACK_LLM__EMBEDDED__ENABLED": "false"},
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def _hits(data: Path) -> list[tuple[str, int]]:
    found = json.loads(_run(data, "search", "lighthouse tides", "-c", "notes", "--json").stdout)
    return [(hit["filename"], hit["seq"]) for hit in found]


def test_backup_wipe_restore(tmp_path: Path) -> None:
    data = tmp_path / "data"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_text("The lighthouse keeper logs the tides every night.")
    (inbox / "b.md").write_text("# Boats\n\nThe ferry leaves at dawn when the tides allow.")
    _run(data, "ingest", str(inbox), "--collection", "notes")
    before = _hits(data)

    created = json.loads(_run(data, "backup", "create", "--json").stdout)
    assert created["files"] == 2
    assert created["blobs"] == 2
    assert (tmp_path / "data-backups" / "config").exists()  # beside the data, not in it
    assert json.loads(_run(data, "backup", "list", "--json").stdout)[0]["id"] == created["id"]
    assert "is whole" in _run(data, "backup", "verify", created["id"]).stdout

    refused = _run(data, "backup", "restore", check=False)
    assert refused.returncode == 1
    assert "holds data" in refused.stderr
    assert "--replace" in refused.stderr

    declined = _run(data, "wipe", "all", check=False, answer="n\n")
    assert declined.returncode == 1
    assert "this deletes:" in declined.stderr
    assert str(data / "mmstack.db") in declined.stderr
    assert "nothing deleted" in declined.stderr
    assert (data / "mmstack.db").exists()

    wiped = json.loads(_run(data, "wipe", "all", "--yes", "--json").stdout)
    assert {item["target"] for item in wiped} >= {"db", "index", "blobs"}
    assert not (data / "mmstack.db").exists()

    restored = json.loads(_run(data, "backup", "restore", created["id"], "--json").stdout)
    assert restored["files"] == 2
    assert restored["blobs_stored"] == 2
    assert _hits(data) == before

    # Over an installation with data, as an operator replacing it would.
    replaced = _run(data, "backup", "restore", "latest", "--replace", "--yes")
    assert "this deletes:" in replaced.stderr
    assert f"restored backup {created['id']}" in " ".join(replaced.stdout.split())
    assert _hits(data) == before
    rotation = json.loads(_run(data, "backup", "forget", "--dry-run", "--json").stdout)
    assert rotation == {"dry_run": True, "forgotten": []}  # one backup: kept

    unknown = _run(data, "wipe", "everything", "--yes", check=False)
    assert unknown.returncode == 1
    assert "nothing to wipe called 'everything'" in unknown.stderr


def test_backup_of_a_running_server_is_taken_by_its_worker(tmp_path: Path) -> None:
    """The embedded server holds the data directory: `backup create` asks its job worker,
    waits, and the backup restores elsewhere to the server's state."""
    from mmstack.config.settings import (
        BackupSettings,
        EmbeddedLlmSettings,
        IngestSettings,
        LlmSettings,
        Settings,
    )
    from mmstack.ops.backup.configured import backup_service
    from mmstack.stack import open_stack
    from mmstack.stack.backups import open_storage
    from tests.api.live_server import serve

    repository = tmp_path / "repo"
    backup = BackupSettings(repository=str(repository), password="server backup password")
    settings = Settings(
        data_dir=tmp_path / "data",
        backup=backup,
        ingest=IngestSettings(workers=1),
        llm=LlmSettings(embedded=EmbeddedLlmSettings(enabled=False)),
    )
    env = {
        "MMSTACK_BACKUP__REPOSITORY": str(repository),
        "MMSTACK_BACKUP__PASSWORD": "server backup password",
    }
    with serve(settings) as server:
        stack = server.stack
        cid = stack.collections.create("notes").collection.id
        stack.intake.add_file(cid, "a.txt", b"The lighthouse keeper logs the tides every night.")
        while stack.collections.list_all()[0].file_counts.completed < 1:
            time.sleep(0.1)
        expected = [h.file_id for h in stack.search.search("lighthouse tides", top_k=3)]
        created = json.loads(_run(settings.data_dir, "backup", "create", "--json", env=env).stdout)
    assert created["by"] == "server"

    elsewhere = settings.model_copy(update={"data_dir": tmp_path / "elsewhere"})
    with open_storage(elsewhere) as storage:
        backup_service(elsewhere).restore(created["id"], storage, data_dir=elsewhere.data_dir)
    with open_stack(elsewhere) as restored:
        assert [h.file_id for h in restored.search.search("lighthouse tides", top_k=3)] == expected


def test_a_worker_process_runs_the_periodic_jobs(tmp_path: Path) -> None:
    """`mmstack worker` (the scale-out shape's workers) queues and runs the scheduled
    retention and backup jobs, as `mmstack up` does; SIGTERM stops it."""
    import signal

    from sqlalchemy import create_engine, text

    from tests.standins.scale_out import free_port

    data = tmp_path / "data"
    metrics_port = free_port()
    _run(data, "migrate")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")} | {
        "MMSTACK_DATA_DIR": str(data),
        "MMSTACK_LLM__EMBEDDED__ENABLED": "false",
        "MMSTACK_BACKUP__INTERVAL_HOURS": "24",
        "MMSTACK_BACKUP__REPOSITORY": str(tmp_path / "repo"),
        "MMSTACK_BACKUP__PASSWORD": "worker backup password",
        "MMSTACK_METRICS__WORKER_PORT": str(metrics_port),
        "MMSTACK_METRICS__TOKEN": "worker metrics token",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "mmstack", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    engine = create_engine(f"sqlite:///{data / 'mmstack.db'}")
    try:
        deadline = time.monotonic() + 120
        done: dict[str, str] = {}
        while len(done) < 2 and time.monotonic() < deadline:
            with engine.connect() as connection:
                rows = connection.execute(
                    text("SELECT kind, status FROM jobs WHERE status = 'succeeded'")
                )
                done = dict(rows.all())
            time.sleep(0.5)
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        assert httpx.get(url, timeout=10).status_code == 401
        served = httpx.get(url, headers={"Authorization": "Bearer worker metrics token"})
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        engine.dispose()
    assert done == {"retention": "succeeded", "backup": "succeeded"}
    assert served.status_code == 200
    finished = 'mmstack_jobs_finished_total{kind="backup",outcome="succeeded"} 1.0'
    assert finished in served.text
    listed = json.loads(_run(data, "backup", "list", "--json", env=env).stdout)
    assert [b["complete"] for b in listed] == [True]
