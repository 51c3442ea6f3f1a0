"""Retention on a real stack (SQLite and PostgreSQL): every kind made old in the database,
the dry run's list equal to what apply deletes and to what is gone afterwards, the young
kept, every deletion in the audit log, the audit log's triggers, the scheduled job, and
`mmstack retention`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner, Result

from mmstack.auth.audit import Actor, AuditQuery
from mmstack.auth.roles import Role
from mmstack.cli.main import app
from mmstack.config.settings import IngestSettings, RetentionSettings, Settings
from mmstack.index.vector import VectorPayload, VectorPoint
from mmstack.ingest.reconcile import BLOB_GRACE_SECONDS
from mmstack.ops.compose import render_compose
from mmstack.ops.helm_values import chart_values
from mmstack.ops.retention import RETENTION_JOB, RetentionJob, RetentionPlan, RetentionService
from mmstack.ops.stack_file import PACKAGED_STACK, StackFileError, load_stack_file
from mmstack.stack import Stack, open_stack
from mmstack.store.models import (
    ApiConversation,
    ApiConversationItem,
    AuditEvent,
    Chunk,
    Conversation,
    ConversationMessage,
    Job,
    JobStatus,
    StoredFile,
    StoredResponse,
    Usage,
)
from mmstack.store.ownership import Owner

DAY = 86_400
NOW = time.time()
OLD = NOW - 100 * DAY  # older than every policy below
POLICY = RetentionSettings(
    files_days=60,
    unattached_files_days=30,
    conversations_days=30,
    audit_days=30,
    usage_days=30,
    jobs_days=30,
    interval_hours=24,
)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        ingest=IngestSettings(workers=0, retry_base_seconds=0.01, max_attempts=3),
        retention=POLICY,
    )


def _set(stack: Stack, model: Any, key: Any, **values: Any) -> None:
    with stack.db.session(write=True) as session:
        session.execute(update(model).where(model.id == key).values(**values))


def _count(stack: Stack, model: Any, *where: Any) -> int:
    with stack.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _admin_id(stack: Stack) -> str:
    return stack.auth.accounts.create_user("carol", role=Role.ADMIN, actor=Actor.local())[0].id


def _file_with_a_chunk_and_vector(stack: Stack, collection_id: str, name: str) -> tuple[str, int]:
    """A file in a collection with one chunk and its vector, made without ingesting it."""
    added = stack.intake.add_file(collection_id, name, f"The text of {name}.".encode())
    member = added.collection_file
    with stack.db.session(write=True) as session:
        chunk = Chunk(
            collection_file_id=member.id,
            collection_id=collection_id,
            file_id=member.file_id,
            seq=0,
            text=name,
            token_count=1,
            char_start=0,
            char_end=len(name),
        )
        session.add(chunk)
        session.flush()
        chunk_id = chunk.id
    payload = VectorPayload(collection_id, member.file_id, "text/plain", int(NOW))
    vector = np.zeros(stack.embedder.dimension, dtype=np.float32)
    vector[0] = 1.0
    stack.vectors.upsert([VectorPoint(chunk_id, vector, payload)])
    return member.file_id, chunk_id


@pytest.fixture
def world(stack: Stack) -> dict[str, Any]:
    """One old and one young item of every kind; returns their ids."""
    cid = stack.collections.create("kept").id
    old_file, old_chunk = _file_with_a_chunk_and_vector(stack, cid, "old.txt")
    young_file, young_chunk = _file_with_a_chunk_and_vector(stack, cid, "young.txt")
    _set(stack, StoredFile, old_file, created_at=int(OLD))
    lone_old = stack.files.upload("lone-old.pdf", b"old standalone", purpose="assistants").id
    lone_young = stack.files.upload("lone-young.pdf", b"young standalone", purpose="user_data").id
    attached = stack.files.upload("attached.pdf", b"attached standalone", purpose="assistants").id
    stack.collections.attach(cid, attached)
    # Old enough for `unattached_files_days` (30), not for `files_days` (60).
    for file_id in (lone_old, attached):
        _set(stack, StoredFile, file_id, created_at=int(NOW - 40 * DAY))

    user_id = _admin_id(stack)
    conversations = stack.conversations.for_user(user_id, "team_default")
    stale = conversations.create(title="Stale chat")
    conversations.add_turn(stale.id, "What is old?", "This.", [])
    fresh = conversations.create(title="Fresh chat")
    _set(stack, Conversation, stale.id, updated_at=int(OLD))
    api = stack.api_conversations.for_owner(Owner("team_default"))
    item = {"type": "message", "id": "msg_old", "role": "user", "content": []}
    api_stale = api.create([item], {}).id
    api_fresh = api.create([], {}).id
    _set(stack, ApiConversation, api_stale, updated_at=int(OLD) - 1)

    with stack.db.session(write=True) as session:
        for n, expires in enumerate((NOW - DAY, NOW - 2 * DAY, NOW + DAY)):
            session.add(
                StoredResponse(
                    id=f"resp_{n}",
                    team_id="team_default",
                    turns=[],
                    body={},
                    created_at=int(OLD),
                    expires_at=int(expires),
                )
            )
        for at in (OLD, OLD + 1, NOW - DAY):
            session.add(AuditEvent(at=at, action="test.event", result="success", detail={}))
        today = int(NOW // DAY)
        for day, user in (
            (today - 90, "u1"),
            (today - 90, "u2"),
            (today - 80, "u1"),
            (today, "u1"),
        ):
            session.add(Usage(day=day, user_id=user, key_id="", model="m"))
        for status, updated in (
            (JobStatus.SUCCEEDED, OLD),
            (JobStatus.FAILED, OLD),
            (JobStatus.SUCCEEDED, NOW),
            (JobStatus.QUEUED, OLD),
            (JobStatus.RUNNING, OLD),
        ):
            session.add(
                Job(kind="test", status=status, updated_at=int(updated), run_after=NOW + DAY)
            )
    payload = VectorPayload(cid, "file-gone", "text/plain", int(NOW))
    vector = np.zeros(stack.embedder.dimension, dtype=np.float32)
    vector[1] = 1.0
    stack.vectors.upsert([VectorPoint(10**6, vector, payload)])
    orphan_blob = stack.blobs.put(b"bytes no file refers to")
    an_hour_ago = NOW - BLOB_GRACE_SECONDS - 60
    os.utime(stack.blobs.local_path(orphan_blob), (an_hour_ago, an_hour_ago))
    return {
        "collection": cid,
        "old_file": old_file,
        "old_chunk": old_chunk,
        "young_file": young_file,
        "young_chunk": young_chunk,
        "lone_old": lone_old,
        "lone_young": lone_young,
        "attached": attached,
        "stale": stale.id,
        "fresh": fresh.id,
        "api_stale": api_stale,
        "api_fresh": api_fresh,
        "orphan_blob": orphan_blob,
        "today": today,
    }


def _listing(plan: RetentionPlan) -> list[tuple[str, str, str, int]]:
    return [(kind, item.id, item.label, item.count) for kind, item in plan.rows()]


def test_a_dry_run_lists_exactly_what_apply_deletes(stack: Stack, world: dict[str, Any]) -> None:
    retention = stack.retention
    dry = retention.plan(NOW)
    assert {kind: [i.id for i in items] for kind, items in dry.kinds.items()} == {
        "files": [world["old_file"]],
        "unattached_files": [world["lone_old"]],
        "conversations": [world["api_stale"], world["stale"]],
        "responses": ["expired"],
        "usage": [str(world["today"] - 90), str(world["today"] - 80)],
        "jobs": [dry.kinds["jobs"][0].id],
        "orphans": ["vectors", "blobs"],
        "backups": [],  # no backup taken (tests/ops/test_backup.py rotates some)
        "audit": [dry.kinds["audit"][0].id],
    }
    labels = {kind: [(i.label, i.count) for i in items] for kind, items in dry.kinds.items()}
    assert labels["files"] == [("old.txt", 1)]
    assert labels["conversations"] == [("(untitled)", 1), ("Stale chat", 1)]
    assert [count for _, count in labels["usage"]] == [2, 1]
    assert [count for _, count in labels["responses"]] == [2]
    assert [count for _, count in labels["jobs"]] == [2]
    assert [count for _, count in labels["audit"]] == [2]
    assert dry == retention.plan(NOW)  # planning changes nothing

    deleted = retention.apply(dry)
    assert _listing(deleted) == _listing(dry)
    assert retention.plan(NOW).empty  # and what was listed is gone

    assert _count(stack, StoredFile, StoredFile.id.in_([world["old_file"], world["lone_old"]])) == 0
    assert _count(stack, Chunk, Chunk.id == world["old_chunk"]) == 0
    vector_ids = set(stack.vectors.iter_ids())
    assert world["old_chunk"] not in vector_ids
    assert 10**6 not in vector_ids
    assert not stack.blobs.exists(world["orphan_blob"])
    assert _count(stack, Conversation, Conversation.id == world["stale"]) == 0
    assert (
        _count(stack, ConversationMessage, ConversationMessage.conversation_id == world["stale"])
        == 0
    )
    assert _count(stack, StoredResponse) == 1
    assert _count(stack, Usage) == 1
    assert _count(stack, Job, Job.kind == "test") == 3  # young, queued, running

    # The young are kept, and so is the old standalone file a collection uses.
    for file_id in ("young_file", "lone_young", "attached"):
        assert stack.files.get(world[file_id])
    assert world["young_chunk"] in vector_ids
    assert _count(stack, Conversation, Conversation.id == world["fresh"]) == 1
    assert _count(stack, ApiConversation) == 1  # the fresh one; the stale one's item went too
    assert _count(stack, ApiConversationItem) == 0
    assert len(stack.auth.audit.query(AuditQuery(action="test.event"))) == 1  # the young one


def test_every_deletion_is_in_the_audit_log(stack: Stack, world: dict[str, Any]) -> None:
    stack.retention.apply(stack.retention.plan(NOW), actor=Actor.system())
    events = stack.auth.audit.query(AuditQuery(action="retention.", limit=1000))
    by_action: dict[str, list[AuditEvent]] = {}
    for event in events:
        by_action.setdefault(event.action, []).append(event)
    assert {a: [e.target for e in es] for a, es in by_action.items()} == {
        "retention.files": [world["old_file"]],
        "retention.unattached_files": [world["lone_old"]],
        "retention.conversations": [world["api_stale"], world["stale"]],
        "retention.responses": [None],
        "retention.usage": [None],
        "retention.jobs": [None],
        "retention.orphans": ["vectors", "blobs"],
        "retention.audit": [None],
    }
    assert all(e.address == "system" for e in events)
    assert by_action["retention.files"][0].detail["filename"] == "old.txt"
    assert by_action["retention.usage"][0].detail["count"] == 3
    audit = by_action["retention.audit"][0]
    assert audit.detail["count"] == 2
    assert audit.detail["cutoff"] < NOW - 29 * DAY
    # The record of the audit deletion came after it, and the deletions before it survive.
    assert audit.id == max(e.id for e in events)


def test_apply_keeps_what_changed_since_the_plan(stack: Stack, world: dict[str, Any]) -> None:
    plan = stack.retention.plan(NOW)
    stack.collections.attach(world["collection"], world["lone_old"])  # no longer unattached
    user_conversations = stack.conversations.for_user(
        _conversation_owner(stack, world["stale"]), "team_default"
    )
    user_conversations.add_turn(world["stale"], "Still here?", "Yes.", [])  # active again
    item = {"type": "message", "id": "msg_new", "role": "user", "content": []}
    stack.api_conversations.add(world["api_stale"], [item])  # and so is this one
    deleted = stack.retention.apply(plan)
    assert deleted.kinds["unattached_files"] == ()
    assert deleted.kinds["conversations"] == ()
    assert stack.files.get(world["lone_old"])


def _conversation_owner(stack: Stack, conversation_id: str) -> str:
    with stack.db.session() as session:
        return str(
            session.scalar(select(Conversation.user_id).where(Conversation.id == conversation_id))
        )


def test_status_shows_policy_held_and_due(stack: Stack, world: dict[str, Any]) -> None:
    status = {s.kind: s for s in stack.retention.status(NOW)}
    assert (status["files"].policy, status["files"].held, status["files"].due) == ("60 days", 5, 1)
    assert (status["unattached_files"].held, status["unattached_files"].due) == (2, 1)
    assert (status["usage"].held, status["usage"].due) == (4, 3)
    assert (status["jobs"].held, status["jobs"].due) == (3, 2)
    assert (status["orphans"].held, status["orphans"].due) == (None, 2)
    assert status["responses"].policy.startswith("when expired")


def test_zero_days_keeps_for_ever(settings: Settings, world: dict[str, Any], stack: Stack) -> None:
    kept = RetentionSettings(
        files_days=0,
        unattached_files_days=0,
        conversations_days=0,
        audit_days=0,
        usage_days=0,
        jobs_days=0,
    )
    retention = RetentionService(stack.db, stack.files, stack.auth.audit, stack.reconciler, kept)
    plan = retention.plan(NOW)
    assert {kind for kind, items in plan.kinds.items() if items} == {"responses", "orphans"}
    assert next(s for s in retention.status(NOW) if s.kind == "audit").policy == "kept for ever"


class _Backups:
    """A stand-in for the backup rotation that will plug in as a policy."""

    def __init__(self, name: str = "backups") -> None:
        self.name = name
        self.snapshots = ["snap-1", "snap-2"]

    def plan(self, now: float) -> list[Any]:
        from mmstack.ops.retention import RetentionItem

        return [RetentionItem(s, f"snapshot {s}") for s in self.snapshots[:1]]

    def apply(self, items: Any) -> list[Any]:
        for item in items:
            self.snapshots.remove(item.id)
        return list(items)


def test_other_policies_plug_in(stack: Stack) -> None:
    backups = _Backups()
    retention = RetentionService(
        stack.db, stack.files, stack.auth.audit, stack.reconciler, POLICY, policies=[backups]
    )
    plan = retention.plan()
    assert [i.id for i in plan.kinds["backups"]] == ["snap-1"]
    assert [i.id for i in retention.apply(plan).kinds["backups"]] == ["snap-1"]
    assert backups.snapshots == ["snap-2"]
    (event,) = stack.auth.audit.query(AuditQuery(action="retention.backups"))
    assert event.target == "snap-1"
    with pytest.raises(ValueError, match="distinct"):
        RetentionService(
            stack.db,
            stack.files,
            stack.auth.audit,
            stack.reconciler,
            POLICY,
            policies=[_Backups(name="files")],
        )


CUTOFF = "UPDATE audit_retention SET cutoff = {} WHERE id = 1"


def _in_one_transaction(stack: Stack, *statements: str) -> None:
    with stack.db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_the_audit_log_lets_only_old_events_go(stack: Stack) -> None:
    with stack.db.session(write=True) as session:
        session.add(AuditEvent(at=OLD, action="old", result="success", detail={}))
        session.add(AuditEvent(at=NOW, action="young", result="success", detail={}))
    cutoff = CUTOFF.format(NOW - 30 * DAY)
    # Outside a retention run the cutoff is 0: nothing can be deleted.
    with pytest.raises(DBAPIError, match="append-only"):
        _in_one_transaction(stack, "DELETE FROM audit_events WHERE action = 'old'")
    # With a cutoff, a young event is still refused, and so is any update.
    with pytest.raises(DBAPIError, match="append-only"):
        _in_one_transaction(stack, cutoff, "DELETE FROM audit_events WHERE action = 'young'")
    with pytest.raises(DBAPIError, match="append-only"):
        _in_one_transaction(
            stack, cutoff, "UPDATE audit_events SET result = 'failure' WHERE action = 'old'"
        )
    # No cutoff within the last day, whoever sets it.
    with pytest.raises(DBAPIError, match="within the last day"):
        _in_one_transaction(stack, CUTOFF.format(NOW))
    _in_one_transaction(
        stack, cutoff, "DELETE FROM audit_events WHERE action = 'old'", CUTOFF.format(0)
    )
    assert stack.auth.audit.query(AuditQuery(action="old")) == []
    assert len(stack.auth.audit.query(AuditQuery(action="young"))) == 1


def _retention_jobs(stack: Stack) -> list[tuple[str, float]]:
    with stack.db.session() as session:
        found = session.execute(
            select(Job.status, Job.run_after).where(Job.kind == RETENTION_JOB).order_by(Job.id)
        )
        return [(str(status), float(run_after)) for status, run_after in found]


def test_the_job_runs_once_when_due_and_not_again_before_the_interval(
    stack: Stack, world: dict[str, Any]
) -> None:
    job = RetentionJob(stack.retention, stack.queue, interval_hours=24)
    assert job.schedule() is True
    assert job.schedule() is False  # one queued at a time
    stack.worker.run_until_idle()
    assert stack.retention.plan().empty
    (done, queued) = _retention_jobs(stack)
    assert done[0] == JobStatus.SUCCEEDED
    assert queued[0] == JobStatus.QUEUED
    assert queued[1] >= time.time() + 23 * 3600
    assert job.schedule() is False  # a worker starting now finds the next one queued
    stack.worker.run_until_idle()  # not due: nothing runs
    assert len(_retention_jobs(stack)) == 2
    events = stack.auth.audit.query(AuditQuery(action="retention.", limit=1000))
    assert events
    assert {e.address for e in events} == {"system"}

    # When due, it runs again (and queues the one after).
    with stack.db.session(write=True) as session:
        session.execute(
            update(Job)
            .where(Job.kind == RETENTION_JOB, Job.status == JobStatus.QUEUED)
            .values(run_after=time.time() - 1)
        )
    stack.worker.run_until_idle()
    assert [s for s, _ in _retention_jobs(stack)] == ["succeeded", "succeeded", "queued"]


def test_a_lost_queued_job_is_scheduled_from_the_last_finished_one(stack: Stack) -> None:
    job = RetentionJob(stack.retention, stack.queue, interval_hours=24)
    job.schedule()
    stack.worker.run_until_idle()
    with stack.db.session(write=True) as session:
        session.execute(delete(Job).where(Job.status == JobStatus.QUEUED))
    assert job.schedule() is True
    (_, (status, run_after)) = _retention_jobs(stack)
    assert status == "queued"
    assert run_after > time.time() + 23 * 3600
    assert RetentionJob(stack.retention, stack.queue, interval_hours=0).schedule() is False


def test_a_worker_start_schedules_the_job(settings: Settings) -> None:
    workers = settings.model_copy(update={"ingest": IngestSettings(workers=1)})
    with open_stack(workers, start_workers=True) as stack:
        deadline = time.monotonic() + 20
        # The next run is queued before the finished one is marked succeeded.
        states: list[str] = []
        while time.monotonic() < deadline and states != ["succeeded", "queued"]:
            time.sleep(0.05)
            states = [s for s, _ in _retention_jobs(stack)]
        assert states == ["succeeded", "queued"]


runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "cli-data"
    settings = Settings(data_dir=data, retention=POLICY)
    with open_stack(settings) as stack:
        old = stack.files.upload("ancient.txt", b"ancient", purpose="assistants").id
        _set(stack, StoredFile, old, created_at=int(OLD))
        with stack.db.session(write=True) as session:
            session.add(AuditEvent(at=OLD, action="test.event", result="success", detail={}))
    return data


def _invoke(data_dir: Path, *args: str, input: str | None = None) -> Result:
    env = {f"MMSTACK_RETENTION__{k.upper()}": str(v) for k, v in POLICY.model_dump().items()}
    return runner.invoke(
        app, ["--data-dir", str(data_dir), "retention", *args], input=input, env=env
    )


def _cli(data_dir: Path, *args: str) -> Result:
    result = _invoke(data_dir, *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_cli_dry_run_lists_what_apply_deletes(data_dir: Path) -> None:
    status = json.loads(_cli(data_dir, "status", "--json").stdout)
    by_kind = {s["kind"]: (s["policy"], s["held"], s["due"]) for s in status}
    assert by_kind["files"] == ("60 days", 1, 1)
    assert by_kind["unattached_files"] == ("30 days", 1, 0)  # listed once, under files

    dry = json.loads(_cli(data_dir, "apply", "--dry-run", "--json").stdout)
    dry_text = _cli(data_dir, "apply", "--dry-run").stdout
    assert "ancient.txt" in dry_text
    assert "nothing was deleted" in dry_text

    refused = _invoke(data_dir, "apply", input="n\n")
    assert refused.exit_code == 1
    assert "ancient.txt" in refused.stdout
    assert "delete these?" in refused.stdout

    applied = json.loads(_cli(data_dir, "apply", "--yes", "--json").stdout)
    assert applied["kinds"] == dry["kinds"]
    assert [i["label"] for i in applied["kinds"]["files"]] == ["ancient.txt"]
    assert json.loads(_cli(data_dir, "apply", "--dry-run", "--json").stdout)["kinds"] == {
        kind: [] for kind in dry["kinds"]
    }
    shown = _cli(data_dir, "apply", "--yes").stdout
    assert "nothing is due" in shown


def test_the_stack_file_gives_each_environment_its_policy(tmp_path: Path) -> None:
    stack_file = load_stack_file(PACKAGED_STACK)
    compose = render_compose(stack_file, "production")["services"]
    for name in ("api", "worker"):
        assert compose[name]["environment"]["MMSTACK_RETENTION__AUDIT_DAYS"] == "400"
    assert not any("RETENTION" in k for k in compose["postgres"].get("environment", {}))
    staging = stack_file.resolved("staging")["worker"].environment
    assert staging["MMSTACK_RETENTION__JOBS_DAYS"] == "7"
    assert "MMSTACK_RETENTION__FILES_DAYS" not in staging  # not set: mmstack's default
    assert not any("RETENTION" in k for k in stack_file.resolved("development")["api"].environment)
    helm = chart_values(stack_file, "production")["services"]["worker"]["env"]
    assert {"name": "MMSTACK_RETENTION__USAGE_DAYS", "value": "400"} in helm
    # The values are mmstack's settings: they load as such.
    variables = {k: v for k, v in compose["api"]["environment"].items() if "RETENTION" in k}
    loaded = RetentionSettings.model_validate(
        {k.removeprefix("MMSTACK_RETENTION__").lower(): v for k, v in variables.items()}
    )
    assert loaded.conversations_days == 365

    data = yaml.safe_load(PACKAGED_STACK.read_text())
    data["environments"]["staging"]["retention"] = {"audit_days": -1, "log_days": 3}
    broken = tmp_path / "stack.yaml"
    broken.write_text(yaml.safe_dump(data))
    with pytest.raises(StackFileError) as error:
        load_stack_file(broken)
    assert any(
        e.startswith("environments.staging.retention.audit_days") for e in error.value.errors
    )
    assert any(e.startswith("environments.staging.retention.log_days") for e in error.value.errors)
