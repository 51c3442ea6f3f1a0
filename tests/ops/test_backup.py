"""Backups with a real restic repository: the round trip (ingest, back up, wipe, restore,
same counts and search results) on SQLite and PostgreSQL, a damaged byte traced to its
part, incremental blobs, schema versions, and an S3 repository on moto_server."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, text

from mmstack.auth.audit import Actor
from mmstack.config.settings import (
    BackupSettings,
    BlobSettings,
    IngestSettings,
    Settings,
    VectorSettings,
)
from mmstack.ops.backup import BackupError, BackupInfo, BackupService, KeepPolicy
from mmstack.ops.backup.configured import backup_check, backup_service
from mmstack.ops.backup.rotation import backups_to_forget
from mmstack.ops.wipe import plan_wipe, run_wipe
from mmstack.stack import Stack, open_stack
from mmstack.stack.backups import open_storage
from mmstack.store import migrate
from mmstack.store.chunks import searchable_chunk_ids
from mmstack.store.models import Chunk, CollectionFile, FileStatus, StoredFile
from tests.documents import make_pdf
from tests.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server
from tests.standins.scale_out import qdrant_standin

QUERIES = ("pruning roses in winter", "billing database risk", "tomato watering", "page two")

FILES = {
    "garden.md": b"# Garden\n\n## Tomatoes\n\nTomatoes need full sun and deep watering.\n\n"
    b"## Roses\n\nPrune the roses in late winter, above an outward-facing bud.\n",
    "falcon.txt": b"The Falcon migration finished on 14 March. The team moved 42 services to "
    b"the new cluster. The main risk left is the billing database.",
    "audit.txt": b"The audit found three issues: expired TLS certificates on two hosts, an "
    b"admin account without MFA, and backups never restored in a test.",
    "report.pdf": make_pdf(["Quarterly report, page one.", "Page two lists the open risks."]),
}


def ingest(stack: Stack, collection: str, files: dict[str, bytes]) -> None:
    cid = stack.collections.resolve_id(collection) if collection != "new" else None
    if cid is None:
        cid = stack.collections.create("docs").collection.id
    for name, data in files.items():
        stack.intake.add_file(cid, name, data)
    stack.worker.run_until_idle()


def state_of(stack: Stack) -> dict[str, object]:
    """What a restore must give back: counts, chunk texts, and search results."""
    with stack.db.session() as session:
        files = session.scalar(select(func.count()).select_from(StoredFile))
        members = session.scalar(select(func.count()).select_from(CollectionFile))
        texts = sorted(session.scalars(select(Chunk.text)))
    results = {
        q: [(h.file_id, h.seq, round(h.score, 4)) for h in stack.search.search(q, top_k=5)]
        for q in QUERIES
    }
    return {"files": files, "members": members, "chunks": texts, "search": results}


@pytest.fixture
def repo(tmp_path: Path) -> BackupSettings:
    return BackupSettings(repository=str(tmp_path / "repo"), password="correct horse battery")


@pytest.fixture
def backed_settings(settings: Settings, repo: BackupSettings) -> Settings:
    return settings.model_copy(update={"backup": repo})


def test_round_trip_gives_back_the_same_state(backed_settings: Settings) -> None:
    settings = backed_settings
    service = backup_service(settings)
    with open_stack(settings) as stack:
        ingest(stack, "new", FILES)
        before = state_of(stack)
        created = service.create(stack.storage)
    assert created.manifest.counts.files == len(FILES)
    assert created.manifest.vectors == created.manifest.counts.searchable_chunks > 0
    assert not created.manifest.blobs_missing

    with open_storage(settings) as storage:
        run_wipe(plan_wipe(settings, ["all"], storage.db))
    assert not (settings.data_dir / "blobs").exists()
    assert (settings.data_dir / "secrets").is_dir()  # never wiped
    with open_storage(settings) as storage:
        assert migrate.current_revision(storage.db.engine) is None
        report = service.restore("latest", storage, data_dir=settings.data_dir)
    assert report.vectors == created.manifest.vectors
    assert report.blobs_stored == len(created.manifest.blobs)
    with open_stack(settings) as stack:
        assert stack.reconciler.run().changed is False  # nothing left to repair
        assert state_of(stack) == before


def test_a_damaged_byte_is_traced_to_its_part(backed_settings: Settings) -> None:
    settings = backed_settings
    service = backup_service(settings)
    with open_stack(settings) as stack:
        ingest(stack, "new", {"falcon.txt": FILES["falcon.txt"]})
        created = service.create(stack.storage)
    assert service.verify(created.manifest.id).ok
    # A blob smaller than restic's smallest chunk is one restic blob whose id is the sha256
    # of its bytes: its name in mmstack's store.
    digest = created.manifest.blobs[0]
    flip_byte_of_blob(settings.backup, digest)
    report = service.verify(created.manifest.id)
    assert set(report.problems) == {"blobs"}, report.problems
    with open_storage(settings) as storage:
        run_wipe(plan_wipe(settings, ["db"], storage.db))
        with pytest.raises(BackupError, match="blobs part"):
            service.restore(created.manifest.id, storage, data_dir=settings.data_dir)
        assert migrate.current_revision(storage.db.engine) is None  # nothing restored


def test_a_damaged_database_copy_is_named(backed_settings: Settings) -> None:
    settings = backed_settings
    service = backup_service(settings)
    with open_stack(settings) as stack:
        ingest(stack, "new", {"falcon.txt": FILES["falcon.txt"]})
        created = service.create(stack.storage, ["db"])
    copy = next((settings.data_dir / "backup-staging" / "db").glob("mmstack.*"))
    flip_byte_of_blob(settings.backup, restic_blob_of(copy))
    assert set(service.verify(created.manifest.id).problems) == {"db"}


def restic_blob_of(path: Path) -> str:
    """The restic blob id of a file small enough to be one blob (restic's chunks are at
    least 512 KiB): the sha256 of its bytes."""
    assert path.stat().st_size < 512 * 1024
    from mmstack.store.blobs import file_sha256

    return file_sha256(path)


def flip_byte_of_blob(repo: BackupSettings, blob_id: str) -> None:
    """Flip one byte inside the pack file that holds restic blob `blob_id`."""
    assert repo.repository is not None
    assert repo.password is not None
    env = {
        "RESTIC_REPOSITORY": repo.repository,
        "RESTIC_PASSWORD": repo.password.get_secret_value(),
    }
    listing = subprocess.run(
        ["restic", "list", "index", "--no-lock"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for index_id in listing.stdout.split():
        shown = subprocess.run(
            ["restic", "cat", "index", index_id, "--no-lock"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        for pack in json.loads(shown.stdout)["packs"]:
            for blob in pack["blobs"]:
                if blob["id"] == blob_id:
                    path = Path(repo.repository) / "data" / pack["id"][:2] / pack["id"]
                    data = bytearray(path.read_bytes())
                    data[blob["offset"] + blob["length"] // 2] ^= 0x5A
                    path.chmod(0o600)
                    path.write_bytes(bytes(data))
                    return
    raise AssertionError(f"no pack holds blob {blob_id}")


def test_second_backup_writes_only_the_changed_blobs(backed_settings: Settings) -> None:
    settings = backed_settings
    service = backup_service(settings)
    with open_stack(settings) as stack:
        ingest(stack, "new", FILES)
        first = service.create(stack.storage)
        ingest(stack, "docs", {"new.txt": b"A new note about the Falcon cut-over rehearsal."})
        second = service.create(stack.storage)
    blobs = second.written["blobs"]
    assert first.written["blobs"].files_new == len(first.manifest.blobs)
    assert blobs.files_new == 1  # the new file's bytes; nothing else read or written
    assert blobs.files_unmodified == len(first.manifest.blobs)
    assert second.written["blobs"].bytes_added < first.written["blobs"].bytes_added
    assert len(service.backups()) == 2


def test_restore_migrates_an_older_schema_forward(tmp_path: Path, repo: BackupSettings) -> None:
    old = Settings(data_dir=tmp_path / "old", backup=repo, ingest=IngestSettings(workers=0))
    with open_storage(old) as storage:
        migrate.upgrade(storage.db.engine, "0009")
        with storage.db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO collections (id, team_id, name, metadata, created_at) "
                    "VALUES ('vs_old', 'team_default', 'kept', '{}', 1)"
                )
            )
        created = backup_service(old).create(storage)
    assert created.manifest.schema_revision == "0009"

    new = old.model_copy(update={"data_dir": tmp_path / "new"})
    with open_storage(new) as storage:
        report = backup_service(new).restore("latest", storage, data_dir=new.data_dir)
        assert (report.schema_from, report.schema_to) == ("0009", migrate.HEAD)
        assert migrate.current_revision(storage.db.engine) == migrate.HEAD
        with storage.db.engine.connect() as connection:
            names = connection.execute(text("SELECT name FROM collections")).scalars().all()
    assert names == ["kept"]


def test_a_backup_from_a_newer_version_is_refused(tmp_path: Path, repo: BackupSettings) -> None:
    newer = Settings(data_dir=tmp_path / "newer", backup=repo)
    with open_storage(newer) as storage:
        migrate.upgrade(storage.db.engine)
        with storage.db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        backup_service(newer).create(storage)
    older = newer.model_copy(update={"data_dir": tmp_path / "older"})
    with open_storage(older) as storage:
        with pytest.raises(BackupError, match="schema 9999, newer than this mmstack knows"):
            backup_service(older).restore("latest", storage, data_dir=older.data_dir)
        assert migrate.current_revision(storage.db.engine) is None  # nothing written


@pytest.fixture
def s3_repo(s3_server: S3Server) -> BackupSettings:
    bucket = s3_server.new_bucket()
    return BackupSettings(
        repository=f"s3:{s3_server.url}/{bucket}/mmstack",
        password="s3 repository password",
        s3_access_key_id=ACCESS_KEY_ID,
        s3_secret_access_key=SECRET_ACCESS_KEY,
    )


def test_an_s3_repository_round_trip(tmp_path: Path, s3_repo: BackupSettings) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", backup=s3_repo, ingest=IngestSettings(workers=0)
    )
    service = backup_service(settings)
    with open_stack(settings) as stack:
        ingest(stack, "new", {"falcon.txt": FILES["falcon.txt"]})
        before = state_of(stack)
        created = service.create(stack.storage)
    assert service.verify(created.manifest.id).ok
    elsewhere = settings.model_copy(update={"data_dir": tmp_path / "elsewhere"})
    with open_storage(elsewhere) as storage:
        backup_service(elsewhere).restore(created.manifest.id, storage, data_dir=elsewhere.data_dir)
    with open_stack(elsewhere) as stack:
        assert state_of(stack) == before


def test_an_s3_repository_needs_a_configured_password(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, backup=BackupSettings(repository="s3:http://127.0.0.1:9/b")
    )
    with pytest.raises(BackupError, match="MMSTACK_BACKUP__PASSWORD"):
        backup_service(settings)


def test_a_wrong_password_is_a_clear_error(backed_settings: Settings) -> None:
    service = backup_service(backed_settings)
    with open_stack(backed_settings) as stack:
        service.create(stack.storage, ["db"])
    wrong = backed_settings.model_copy(
        update={"backup": backed_settings.backup.model_copy(update={"password": SecretStr("no")})}
    )
    with pytest.raises(BackupError, match="does not open with the configured password"):
        backup_service(wrong).backups()


def test_unknown_backup_and_part(backed_settings: Settings) -> None:
    service: BackupService = backup_service(backed_settings)
    with pytest.raises(BackupError, match="no backup 'nope'"):
        service.verify("nope")
    with open_stack(backed_settings) as stack, pytest.raises(BackupError, match="not \\['logs'\\]"):
        service.create(stack.storage, ["logs"])


def test_a_backup_taken_during_ingestion_and_searches_is_consistent(
    tmp_path: Path, repo: BackupSettings
) -> None:
    """Worker threads ingest and a thread searches while the backup runs; restored, every
    completed file is whole: each searchable chunk has its own vector (the one its text
    embeds to) and no vector is without its chunk."""
    settings = Settings(
        data_dir=tmp_path / "live", backup=repo, ingest=IngestSettings(workers=2, batch_files=2)
    )
    service = backup_service(settings)

    def note(i: int) -> bytes:
        line = f"Note {i}: the rehearsal of cut-over step {i} moved service {i * 7} to cluster "
        return f"{line}{i % 5}. ".encode() * (1 + i % 4)

    stop = threading.Event()
    searched: list[int] = []
    with open_stack(settings, start_workers=True) as stack:
        cid = stack.collections.create("live").collection.id

        def upload() -> None:  # files keep coming until the backup is done
            i = 0
            while not stop.is_set():
                stack.intake.add_file(cid, f"note-{i:04}.txt", note(i))
                i += 1
                time.sleep(0.02)

        def search() -> None:
            while not stop.is_set():
                searched.append(len(stack.search.search("cut-over rehearsal", top_k=3)))

        threads = [threading.Thread(target=upload), threading.Thread(target=search)]
        for thread in threads:
            thread.start()
        try:
            deadline = time.monotonic() + 120
            while completed_files(stack) < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
            at_start = completed_files(stack)
            created = service.create(stack.storage)
            at_end = completed_files(stack)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    assert searched
    assert at_end > at_start, "no file was ingested while the backup ran"
    assert at_start <= created.manifest.counts.completed_files <= at_end

    restored = settings.model_copy(
        update={"data_dir": tmp_path / "restored", "ingest": IngestSettings(workers=0)}
    )
    with open_storage(restored) as storage:
        backup_service(restored).restore(created.manifest.id, storage, data_dir=restored.data_dir)
    with open_stack(restored) as stack:
        with stack.db.session() as session:
            searchable = searchable_chunk_ids(session)
            rows = session.execute(select(Chunk.id, Chunk.text).where(Chunk.id.in_(searchable)))
            chunk_text = dict(rows.all())
            for member in session.scalars(
                select(CollectionFile).where(CollectionFile.status == FileStatus.COMPLETED)
            ):
                count = session.scalar(
                    select(func.count()).where(Chunk.collection_file_id == member.id)
                )
                assert count == member.chunk_count > 0
        vectors = dict(stack.vectors.iter_vectors())
        assert set(vectors) == searchable
        ids = sorted(searchable)
        expected = stack.embedder.embed([chunk_text[i] for i in ids])
        for chunk_id, vector in zip(ids, expected, strict=True):
            assert float(vectors[chunk_id] @ vector) > 0.99, chunk_id


def completed_files(stack: Stack) -> int:
    with stack.db.session() as session:
        done = CollectionFile.status == FileStatus.COMPLETED
        return session.scalar(select(func.count()).where(done)) or 0


def test_rotation_keeps_the_policy_and_runs_as_retention(backed_settings: Settings) -> None:
    """Four backups on one day, `keep_last` 2 and one a day: the two oldest go, listed by
    a retention dry run exactly as the following apply deletes them."""
    settings = backed_settings.model_copy(
        update={
            "backup": backed_settings.backup.model_copy(
                update={"keep_last": 2, "keep_daily": 1, "keep_weekly": 0, "keep_monthly": 0}
            )
        }
    )
    service = backup_service(settings)
    with open_stack(settings) as stack:
        made = [service.create(stack.storage, ["db"]).manifest.id for _ in range(4)]
        planned = stack.retention.plan()
        assert [item.id for item in planned.kinds["backups"]] == made[:2]
        deleted = stack.retention.apply(planned, actor=Actor.local())
        assert [item.id for item in deleted.kinds["backups"]] == made[:2]
    assert [b.id for b in service.backups()] == made[2:]
    assert service.verify(made[-1]).ok


def test_rotation_policy_buckets() -> None:
    day = 86400.0
    start = 1_767_225_600.0  # 2026-01-01, a Thursday
    backups = [
        BackupInfo(f"b{i}", start + i * day / 2, ("db",), {"manifest": "x"}, {})
        for i in range(120)  # two a day for 60 days
    ]
    policy = KeepPolicy(last=1, daily=3, weekly=2, monthly=2)
    kept = {b.id for b in backups} - {b.id for b in backups_to_forget(backups, policy)}
    # The newest (b119: Sunday 1 March, 12:00); of each of the last 3 days (b119, b117,
    # b115); of the last 2 ISO weeks (b119, and b105: Sunday 22 February); of the last 2
    # months (b119, and b117: 28 February).
    assert kept == {"b119", "b117", "b115", "b105"}
    incomplete = BackupInfo("half", start, ("db",), {"db": "y"}, {})
    assert incomplete in backups_to_forget([*backups, incomplete], policy)


@pytest.mark.postgres
def test_round_trip_in_the_scale_out_shape(
    tmp_path: Path, pg_url: str, s3_server: S3Server
) -> None:
    """PostgreSQL, a Qdrant server (the stand-in speaking its REST protocol) and S3 blobs
    (moto_server), backed up into an S3 repository, wiped, restored."""
    repository = s3_server.new_bucket()
    with qdrant_standin(tmp_path) as (qdrant_url, qdrant_key):
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=pg_url,
            ingest=IngestSettings(workers=0),
            vector=VectorSettings(
                backend="qdrant", qdrant_url=qdrant_url, qdrant_api_key=qdrant_key
            ),
            blobs=BlobSettings(
                backend="s3",
                bucket=s3_server.new_bucket(),
                endpoint_url=s3_server.url,
                access_key_id=ACCESS_KEY_ID,
                secret_access_key=SECRET_ACCESS_KEY,
            ),
            backup=BackupSettings(
                repository=f"s3:{s3_server.url}/{repository}",
                password="scale-out repository password",
                s3_access_key_id=ACCESS_KEY_ID,
                s3_secret_access_key=SECRET_ACCESS_KEY,
            ),
        )
        service = backup_service(settings)
        with open_stack(settings) as stack:
            ingest(stack, "new", FILES)
            before = state_of(stack)
            created = service.create(stack.storage)
        assert created.manifest.database == "postgresql"
        assert service.verify(created.manifest.id).ok
        with open_storage(settings) as storage:
            run_wipe(plan_wipe(settings, ["all"], storage.db))
        with open_storage(settings) as storage:
            assert list(storage.blobs.digests()) == []
            assert list(storage.vectors.iter_ids()) == []
            service.restore(created.manifest.id, storage, data_dir=settings.data_dir)
        with open_stack(settings) as stack:
            assert stack.reconciler.run().changed is False
            assert state_of(stack) == before


def test_the_doctor_reports_the_state_of_backups(backed_settings: Settings) -> None:
    def severities(settings: Settings, now: float) -> list[tuple[str, str]]:
        return [(f.severity, f.message) for f in backup_check(settings, now)]

    never = backed_settings.model_copy(
        update={"backup": BackupSettings(repository=backed_settings.backup.repository)}
    )
    assert severities(never, time.time())[0][0] == "medium"  # none taken, none scheduled
    scheduled = backed_settings.model_copy(
        update={"backup": backed_settings.backup.model_copy(update={"interval_hours": 24.0})}
    )
    assert severities(scheduled, time.time())[0][0] == "high"  # scheduled, none yet
    with open_stack(scheduled) as stack:
        backup_service(scheduled).create(stack.storage, ["db"])
    (fresh,) = severities(scheduled, time.time())
    assert fresh[0] == "info"
    assert "the newest of 1 backups" in fresh[1]
    (late,) = severities(scheduled, time.time() + 3 * 86400)
    assert late[0] == "high"
    wrong = scheduled.model_copy(
        update={"backup": scheduled.backup.model_copy(update={"password": SecretStr("no")})}
    )
    (refused,) = severities(wrong, time.time())
    assert refused[0] == "high"
    assert "does not open with the configured password" in refused[1]
