"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...), for deployments whose API
and worker processes run on several machines. boto3 is imported only here.

Keys are content-addressed: `<prefix><first two hex digits>/<sha256>`. Uploads and
downloads stream in parts (`multipart_chunk_bytes` each, a few at a time), so a large file
never sits whole in memory. Decoders that need a file on disk get a copy in a local cache
of bounded size (`local_path`).
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mmstack.errors import MMStackError
from mmstack.store.blobs import SHA256_PATTERN, file_sha256, sha256_hex

if TYPE_CHECKING:
    from mmstack.config.settings import BlobSettings

log = logging.getLogger(__name__)

# A local copy younger than this is never evicted: a reader may be about to open it.
_CACHE_GRACE_SECONDS = 600.0


class BlobStoreError(MMStackError):
    """The object store refused or failed a request (the message names the operation and
    the store's error code, never a credential)."""

    code = "blob_store_error"
    status_code = 503


class S3BlobStore:
    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        prefix: str = "",
        cache_dir: Path,
        cache_bytes: int = 2 * 1024**3,
        multipart_chunk_bytes: int = 8 * 1024**2,
        max_concurrency: int = 4,
    ) -> None:
        from boto3.s3.transfer import TransferConfig

        self._client = client
        self.bucket = bucket
        self.prefix = prefix
        self._cache_dir = cache_dir
        self._cache_bytes = cache_bytes
        self._transfer = TransferConfig(
            multipart_threshold=multipart_chunk_bytes,
            multipart_chunksize=multipart_chunk_bytes,
            max_concurrency=max_concurrency,
        )
        # What a transfer may hold in memory: parts read ahead of their upload (each
        # `multipart_chunk_bytes`), pieces of downloads (256 KiB each) waiting to be written.
        self._transfer.max_in_memory_upload_chunks = max_concurrency
        self._transfer.max_in_memory_download_chunks = max_concurrency * 16
        self._cache_lock = threading.Lock()
        cache_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_settings(cls, settings: BlobSettings, cache_dir: Path) -> S3BlobStore:
        import boto3
        from botocore.config import Config

        if not settings.bucket:
            raise ValueError("blobs.bucket is required for the s3 backend")
        secret = settings.secret_access_key
        session = boto3.session.Session(
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            region_name=settings.region,
        )
        config = Config(
            # MinIO and most self-hosted stores serve buckets as paths, not host names.
            s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        )
        client = session.client("s3", endpoint_url=settings.endpoint_url, config=config)
        return cls(
            client,
            settings.bucket,
            prefix=settings.prefix,
            cache_dir=cache_dir,
            cache_bytes=settings.cache_bytes,
            multipart_chunk_bytes=settings.multipart_chunk_bytes,
        )

    def key(self, sha256: str) -> str:
        if not SHA256_PATTERN.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    def check(self) -> None:
        """Raise BlobStoreError unless the bucket answers to these credentials."""
        if not self._bucket_exists():
            raise BlobStoreError(self._failure("find the bucket", "it does not exist"))

    def ensure_bucket(self, region: str) -> None:
        """Create the bucket unless it exists (several processes may race: one wins)."""
        if self._bucket_exists():
            return
        options: dict[str, Any] = {}
        if region != "us-east-1":  # the one region S3 refuses a location constraint for
            options["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._call(
                "create the bucket", self._client.create_bucket, Bucket=self.bucket, **options
            )
        except BlobStoreError as exc:
            if "BucketAlreadyOwnedByYou" not in exc.message:
                raise

    def _bucket_exists(self) -> bool:
        head = self._client.head_bucket
        return self._call("check the bucket", head, Bucket=self.bucket, missing=False) is not False

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        if not self.exists(digest):
            self._upload(io.BytesIO(data), digest)
        return digest

    def put_file(self, path: Path) -> str:
        digest = file_sha256(path)
        if not self.exists(digest):
            # By name, parts are read from the file as they are sent, not ahead of them.
            self._call(
                "upload",
                self._client.upload_file,
                str(path),
                self.bucket,
                self.key(digest),
                Config=self._transfer,
            )
        return digest

    def _upload(self, source: IO[bytes], digest: str) -> None:
        self._call(
            "upload",
            self._client.upload_fileobj,
            source,
            self.bucket,
            self.key(digest),
            Config=self._transfer,
        )

    def get(self, sha256: str) -> bytes:
        with self.open(sha256) as body:
            return body.read()

    def open(self, sha256: str) -> IO[bytes]:
        response = self._call(
            "download", self._client.get_object, Bucket=self.bucket, Key=self.key(sha256)
        )
        if response is None:
            raise KeyError(sha256)
        body: IO[bytes] = response["Body"]
        return body

    def read_range(self, sha256: str, start: int, length: int) -> bytes:
        if start < 0 or length < 1:
            raise ValueError("a range starts at 0 or later and holds at least one byte")
        response = self._call(
            "read a range",
            self._client.get_object,
            Bucket=self.bucket,
            Key=self.key(sha256),
            Range=f"bytes={start}-{start + length - 1}",
        )
        if response is None:
            raise KeyError(sha256)
        data: bytes = response["Body"].read()
        return data

    def size(self, sha256: str) -> int:
        head = self._head(sha256)
        if head is None:
            raise KeyError(sha256)
        return int(head["ContentLength"])

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def _head(self, sha256: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._call(
            "look up", self._client.head_object, Bucket=self.bucket, Key=self.key(sha256)
        )
        return result

    def local_path(self, sha256: str) -> Path:
        path = self._cache_dir / sha256[:2] / sha256
        self.key(sha256)  # validates the digest before it names a file
        if path.is_file():
            os.utime(path)  # recently used: evicted last
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                found = self._call(
                    "download",
                    self._client.download_fileobj,
                    self.bucket,
                    self.key(sha256),
                    handle,
                    Config=self._transfer,
                    missing=False,
                )
            if found is False:
                raise KeyError(sha256)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        self._evict()
        return path

    def delete(self, sha256: str) -> None:
        self._call("delete", self._client.delete_object, Bucket=self.bucket, Key=self.key(sha256))
        (self._cache_dir / sha256[:2] / sha256).unlink(missing_ok=True)

    def written_before(self, cutoff: float) -> Iterator[str]:
        self._abort_uploads_before(cutoff)
        for name, modified in self._listing():
            if modified < cutoff:
                yield name

    def digests(self) -> Iterator[str]:
        for name, _ in self._listing():
            yield name

    def _listing(self) -> Iterator[tuple[str, float]]:
        """Every blob under the prefix, with when it was written."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = self._call("list", paginator.paginate, Bucket=self.bucket, Prefix=self.prefix)
        for page in self._pages(pages, "list"):
            for item in page.get("Contents", []):
                name = item["Key"].rpartition("/")[2]
                if SHA256_PATTERN.match(name):
                    yield name, item["LastModified"].timestamp()

    def _abort_uploads_before(self, cutoff: float) -> None:
        """Multipart uploads begun before `cutoff` and never completed (a process killed
        mid-upload) are the store's leftovers of unfinished writes: their parts cost
        storage until aborted."""
        paginator = self._client.get_paginator("list_multipart_uploads")
        pages = self._call(
            "list uploads", paginator.paginate, Bucket=self.bucket, Prefix=self.prefix
        )
        for page in self._pages(pages, "list uploads"):
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() < cutoff:
                    self._call(
                        "abort an upload",
                        self._client.abort_multipart_upload,
                        Bucket=self.bucket,
                        Key=upload["Key"],
                        UploadId=upload["UploadId"],
                    )

    def _evict(self) -> None:
        """Remove the least recently used local copies beyond `cache_bytes`."""
        with self._cache_lock:
            entries = []
            for path in self._cache_dir.glob("*/*"):
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                entries.append((stat.st_mtime, stat.st_size, path))
            total = sum(size for _, size, _ in entries)
            young = time.time() - _CACHE_GRACE_SECONDS
            for used, size, path in sorted(entries):
                if total <= self._cache_bytes or used > young:
                    break
                path.unlink(missing_ok=True)
                total -= size

    def _call(self, what: str, method: Any, *args: Any, missing: Any = None, **kwargs: Any) -> Any:
        """Call the client; a missing object gives `missing`, any other failure a
        BlobStoreError that names the operation and the store's error code."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(*args, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "unknown"))
            if code in {"404", "NoSuchKey", "NotFound"}:
                return missing
            raise BlobStoreError(self._failure(what, code)) from None
        except BotoCoreError as exc:
            raise BlobStoreError(self._failure(what, type(exc).__name__)) from None

    def _failure(self, what: str, why: str) -> str:
        return f"object store, bucket {self.bucket!r}: could not {what} ({why})"

    def _pages(self, pages: Any, what: str) -> Iterator[dict[str, Any]]:
        """A paginator's pages, its failures as BlobStoreError."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield from pages
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "unknown"))
            raise BlobStoreError(self._failure(what, code)) from None
        except BotoCoreError as exc:
            raise BlobStoreError(self._failure(what, type(exc).__name__)) from None
