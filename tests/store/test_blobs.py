"""The blob stores' shared contract, on the local disk and on a real S3 server
(`moto_server` on 127.0.0.1), and what only the S3 store does: multipart streaming with
bounded memory, leftovers of unfinished uploads, credentials kept out of logs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mmstack.config.settings import BlobSettings, Settings
from mmstack.stack.builders import blob_store
from mmstack.store.blobs import BlobStore, LocalBlobStore, file_sha256, sha256_hex
from mmstack.store.blobs_s3 import BlobStoreError, S3BlobStore
from tests.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server


def s3_settings(server: S3Server, bucket: str, **extra: object) -> BlobSettings:
    return BlobSettings.model_validate(
        {
            "backend": "s3",
            "bucket": bucket,
            "prefix": "blobs/",
            "endpoint_url": server.url,
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": SECRET_ACCESS_KEY,
            **extra,
        }
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    server: S3Server = request.getfixturevalue("s3_server")
    return S3BlobStore.from_settings(s3_settings(server, server.new_bucket()), tmp_path / "cache")


def test_put_get_and_content_addressing(store: BlobStore) -> None:
    digest = store.put(b"hello blobs")
    assert digest == sha256_hex(b"hello blobs")
    assert store.put(b"hello blobs") == digest  # the same bytes again: one blob
    assert store.get(digest) == b"hello blobs"
    assert store.exists(digest)
    assert store.size(digest) == len(b"hello blobs")
    with store.open(digest) as stream:
        assert stream.read() == b"hello blobs"


def test_range_reads(store: BlobStore) -> None:
    data = bytes(range(256)) * 40
    digest = store.put(data)
    assert store.read_range(digest, 0, 10) == data[:10]
    assert store.read_range(digest, 1000, 300) == data[1000:1300]
    assert store.read_range(digest, len(data) - 5, 100) == data[-5:]  # clipped at the end
    with pytest.raises(ValueError, match="a range starts at 0"):
        store.read_range(digest, -1, 10)


def test_missing_blobs_are_key_errors(store: BlobStore) -> None:
    absent = sha256_hex(b"never stored")
    assert not store.exists(absent)
    for read in (store.get, store.open, store.local_path, store.size):
        with pytest.raises(KeyError):
            read(absent)
    with pytest.raises(KeyError):
        store.read_range(absent, 0, 1)
    store.delete(absent)  # absent blobs are ignored


def test_not_a_digest_is_refused(store: BlobStore) -> None:
    with pytest.raises(ValueError, match="sha256"):
        store.get("../../etc/passwd")


def test_put_file_and_local_path(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(300_000))
    digest = store.put_file(source)
    assert digest == file_sha256(source)
    local = store.local_path(digest)
    assert local.read_bytes() == source.read_bytes()
    assert store.local_path(digest) == local  # a second reader gets the same file


def test_delete(store: BlobStore) -> None:
    digest = store.put(b"to be deleted")
    store.local_path(digest)
    store.delete(digest)
    assert not store.exists(digest)
    with pytest.raises(KeyError):
        store.local_path(digest)  # the local copy went too


def test_written_before_lists_old_blobs_only(store: BlobStore) -> None:
    old = store.put(b"old blob")
    assert old in set(store.written_before(time.time() + 60))
    assert old not in set(store.written_before(time.time() - 3600))


def test_digests_lists_every_blob_and_leaves_writes_in_progress(
    store: BlobStore, tmp_path: Path
) -> None:
    stored = {store.put(b"one"), store.put(b"two")}
    if isinstance(store, LocalBlobStore):  # a write under way: its temporary file
        in_progress = store.root / "ab" / "cd" / ".tmp-writing"
        in_progress.parent.mkdir(parents=True)
        in_progress.write_bytes(b"half")
        old = time.time() - 7200
        os.utime(in_progress, (old, old))
    assert set(store.digests()) == stored
    if isinstance(store, LocalBlobStore):
        assert in_progress.exists()


def test_s3_keys_are_content_addressed_under_the_prefix(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    store = S3BlobStore.from_settings(s3_settings(s3_server, bucket), tmp_path)
    digest = store.put(b"where does it go")
    listed = s3_server.client().list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
    assert [item["Key"] for item in listed["Contents"]] == [f"blobs/{digest[:2]}/{digest}"]


def test_s3_unfinished_uploads_are_aborted_as_leftovers(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    store = S3BlobStore.from_settings(s3_settings(s3_server, bucket), tmp_path)
    client = s3_server.client()
    # A process killed mid-upload leaves an open multipart upload with its parts.
    key = store.key(sha256_hex(b"never finished"))
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)  # type: ignore[attr-defined]
    client.upload_part(  # type: ignore[attr-defined]
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024
    )
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads")  # type: ignore[attr-defined]
    # (moto reports every upload as begun in 2010, so a young upload's survival of an
    # earlier cutoff cannot be shown against it.)
    assert list(store.written_before(time.time() + 60)) == []  # no blob was ever written
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")  # type: ignore[attr-defined]


def test_s3_local_copies_are_evicted_beyond_the_cache_size(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    cache = tmp_path / "cache"
    store = S3BlobStore.from_settings(s3_settings(s3_server, bucket, cache_bytes=0), cache)
    first = store.local_path(store.put(b"first"))
    old = time.time() - 3600
    os.utime(first, (old, old))  # last used an hour ago
    second = store.local_path(store.put(b"second"))
    assert not first.exists()  # beyond the size: the least recently used goes
    assert second.exists()  # just fetched: a reader is about to open it


def test_s3_missing_bucket_and_unreachable_store_are_clear_errors(
    s3_server: S3Server, tmp_path: Path
) -> None:
    missing = S3BlobStore.from_settings(s3_settings(s3_server, "no-such-bucket"), tmp_path)
    with pytest.raises(BlobStoreError, match="bucket 'no-such-bucket': could not find the bucket"):
        missing.check()
    with pytest.raises(
        BlobStoreError, match=r"bucket 'no-such-bucket': could not upload \(NoSuchBucket\)"
    ):
        missing.put(b"nowhere to go")
    closed = BlobSettings.model_validate(
        {**s3_settings(s3_server, "b").model_dump(), "endpoint_url": "http://127.0.0.1:9"}
    )
    closed = closed.model_copy(
        update={"secret_access_key": s3_settings(s3_server, "b").secret_access_key}
    )
    with pytest.raises(
        BlobStoreError, match=r"bucket 'b': could not check the bucket \(EndpointConnectionError\)"
    ) as caught:
        S3BlobStore.from_settings(closed, tmp_path).check()
    assert SECRET_ACCESS_KEY not in str(caught.value)


def test_s3_credentials_never_reach_the_logs(
    s3_server: S3Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # botocore's own debug logging included
    bucket = s3_server.new_bucket()
    settings = s3_settings(s3_server, bucket, multipart_chunk_bytes=5 * 1024**2)
    store = S3BlobStore.from_settings(settings, tmp_path / "cache")
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(11 * 1024**2))  # three parts
    digest = store.put_file(source)
    store.local_path(digest)
    store.delete(digest)
    with pytest.raises(BlobStoreError):
        S3BlobStore.from_settings(s3_settings(s3_server, "absent-bucket"), tmp_path).check()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "s3" in text.lower()  # botocore did log its requests
    assert SECRET_ACCESS_KEY not in text
    assert SECRET_ACCESS_KEY not in repr(settings)
    assert SECRET_ACCESS_KEY not in str(settings)


def test_the_stack_builds_the_configured_store(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    settings = Settings(data_dir=tmp_path, blobs=s3_settings(s3_server, bucket))
    built = blob_store(settings)
    assert isinstance(built, S3BlobStore)
    assert built.bucket == bucket
    assert isinstance(blob_store(Settings(data_dir=tmp_path)), LocalBlobStore)
    fresh = s3_settings(s3_server, "made-at-start", create_bucket=True)
    for _ in range(2):  # made once, then found
        made = blob_store(Settings(data_dir=tmp_path, blobs=fresh))
        assert isinstance(made, S3BlobStore)
        made.check()
    with pytest.raises(ValueError, match=r"needs blobs\.bucket"):
        BlobSettings(backend="s3")


_STREAMING = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from mmstack.config.settings import BlobSettings
    from mmstack.store.blobs import file_sha256
    from mmstack.store.blobs_s3 import S3BlobStore

    def status(field):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

    settings = BlobSettings.model_validate_json(sys.argv[1])
    source, cache = Path(sys.argv[2]), Path(sys.argv[3])
    store = S3BlobStore.from_settings(settings, cache)
    store.local_path(store.put(b"warm up: every module loaded, every pool made"))
    baseline = status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from here
    digest = store.put_file(source)
    copy = store.local_path(digest)
    tail = store.read_range(digest, source.stat().st_size - 10, 10)
    with open(source, "rb") as handle:
        handle.seek(-10, 2)
        assert tail == handle.read()
    assert file_sha256(copy) == digest == file_sha256(source)
    print(status("VmHWM") - baseline)
    """
)


@pytest.mark.slow
def test_s3_streams_a_200_mb_file_with_bounded_memory(s3_server: S3Server, tmp_path: Path) -> None:
    source = tmp_path / "large.bin"
    with source.open("wb") as out:
        for _ in range(200):
            out.write(os.urandom(1024**2))
    settings = s3_settings(s3_server, s3_server.new_bucket()).model_dump(mode="json")
    settings["secret_access_key"] = SECRET_ACCESS_KEY  # dumped as asterisks otherwise
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _STREAMING,
            json.dumps(settings),
            str(source),
            str(tmp_path / "c"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "AWS_SECRET_ACCESS_KEY": ""},
    )
    assert result.returncode == 0, result.stderr
    growth = int(result.stdout.strip().splitlines()[-1])
    print(f"RSS growth while streaming 200 MB up and down: {growth / 1024**2:.1f} MB")
    assert growth < 50 * 1024**2
