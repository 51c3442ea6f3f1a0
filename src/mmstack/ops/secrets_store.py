"""The secrets store: every secret of every environment with its versions, in one file
encrypted with AES-256-GCM. The key is `MMSTACK_SECRETS_KEY` (base64url of 32 bytes) or a
key file only its owner can read. Values never leave this module except through
`Version.value`, which nothing logs (its repr hides it)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mmstack.errors import InvalidRequestError
from mmstack.private_files import create_private_once

FORMAT: Final = 1
# The header is also the associated data: a file cannot be passed off as another format.
MAGIC: Final = b"mmstack-secrets v1\n"
NONCE_BYTES: Final = 12
KEY_BYTES: Final = 32
KEY_ENV: Final = "MMSTACK_SECRETS_KEY"
STORE_DIR: Final = ".mmstack"
STORE_NAME: Final = "secrets.enc"
KEY_NAME: Final = "secrets.key"
KEEP_VERSIONS: Final = 5  # older ones are dropped: a store full of dead passwords helps no one

log = logging.getLogger(__name__)


class SecretsError(InvalidRequestError):
    code = "secrets_error"


@dataclasses.dataclass
class Version:
    number: int
    value: str = dataclasses.field(repr=False)
    created_at: datetime


@dataclasses.dataclass
class SecretEntry:
    versions: list[Version]
    current: int
    previous: int | None = None

    def version(self, number: int) -> Version:
        return next(v for v in self.versions if v.number == number)

    def current_version(self) -> Version:
        return self.version(self.current)


@dataclasses.dataclass(frozen=True)
class Key:
    material: bytes = dataclasses.field(repr=False)
    source: str
    created: bool = False


def _decode_key(text: str) -> bytes | None:
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == KEY_BYTES else None


def load_key(key_file: Path, *, explicit: bool = False, create: bool = False) -> Key:
    """An explicit key file wins, then `MMSTACK_SECRETS_KEY`, then the default key file;
    `create` makes the key file (0600) when none of them exists."""
    from_env = os.environ.get(KEY_ENV)
    if from_env is not None and not explicit:
        material = _decode_key(from_env)
        if material is None:
            raise SecretsError(f"{KEY_ENV} is not a key: it must be base64url of 32 bytes")
        return Key(material, KEY_ENV)
    try:
        info = key_file.stat()
    except FileNotFoundError:
        if not create:
            raise SecretsError(
                f"no key: set {KEY_ENV} or give the key file ({key_file} does not exist)"
            ) from None
        material = secrets.token_bytes(KEY_BYTES)
        ensure_private_dir(key_file.parent)
        text = base64.urlsafe_b64encode(material).decode().rstrip("=") + "\n"
        if create_private_once(key_file, text.encode()).decode() == text:
            log.info("created the secrets key file %s", key_file)
            return Key(material, str(key_file), created=True)
        info = key_file.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & ~0o600:
        raise SecretsError(
            f"{key_file} is open to others (mode {mode:04o}); run: chmod 600 {key_file}"
        )
    material = _decode_key(key_file.read_text())
    if material is None:
        raise SecretsError(f"{key_file} does not hold a key (base64url of 32 bytes)")
    return Key(material, str(key_file))


def ensure_private_dir(path: Path) -> None:
    """Make the directory (0700); a new `.mmstack` gets a .gitignore so that neither the
    key nor rendered values end up in a repository."""
    if path.is_dir():
        return
    path.mkdir(mode=0o700, parents=True)
    if path.name == STORE_DIR:
        (path / ".gitignore").write_text("*\n")


def write_private(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Atomically: readers see the old file or the new one, never half of one; 0600 (or
    `mode`) in a 0700 directory."""
    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def encrypt(key: bytes, plaintext: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, plaintext, MAGIC)


def decrypt(key: bytes, data: bytes, path: Path) -> bytes:
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + NONCE_BYTES + 16:
        raise SecretsError(f"{path} is not an mmstack secrets store (format {FORMAT})")
    nonce = data[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, data[len(MAGIC) + NONCE_BYTES :], MAGIC)
    except InvalidTag:
        raise SecretsError(f"cannot decrypt {path}: wrong key, or the file was altered") from None


class SecretsStore:
    """The decrypted document, changed in memory and written back by `save`."""

    def __init__(self, path: Path, key: Key, environments: dict[str, dict[str, SecretEntry]]):
        self.path = path
        self._key = key
        self._environments = environments

    @classmethod
    def open(cls, path: Path, key: Key) -> SecretsStore:
        """An empty store when the file does not exist yet."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls(path, key, {})
        document = json.loads(decrypt(key.material, data, path))
        return cls(path, key, _parse(document))

    def save(self) -> None:
        document = {"format": FORMAT, "environments": _dump(self._environments)}
        write_private(self.path, encrypt(self._key.material, json.dumps(document).encode()))

    def entries(self, env: str) -> dict[str, SecretEntry]:
        return self._environments.get(env, {})

    def entry(self, env: str, name: str) -> SecretEntry:
        found = self.entries(env).get(name)
        if found is None:
            raise SecretsError(f"no secret '{name}' in {env}: run `mmstack secrets init` first")
        return found

    def add_version(self, env: str, name: str, value: str, now: datetime) -> Version:
        """A new version becomes current; the one it replaces is kept for rollback."""
        entry = self.entries(env).get(name)
        if entry is None:
            version = Version(1, value, now)
            self._environments.setdefault(env, {})[name] = SecretEntry([version], 1)
            return version
        version = Version(max(v.number for v in entry.versions) + 1, value, now)
        entry.versions.append(version)
        entry.previous, entry.current = entry.current, version.number
        keep = {entry.current, entry.previous}
        while len(entry.versions) > KEEP_VERSIONS:
            oldest = next(v for v in entry.versions if v.number not in keep)
            entry.versions.remove(oldest)
        return version

    def rollback(self, env: str, name: str) -> Version:
        """The version current before the last change is current again; rolling back twice
        returns to where it was."""
        entry = self.entry(env, name)
        if entry.previous is None:
            raise SecretsError(f"'{name}' in {env} has no previous version to roll back to")
        entry.current, entry.previous = entry.previous, entry.current
        return entry.current_version()


@contextlib.contextmanager
def locked(store_path: Path) -> Iterator[None]:
    """One writer at a time: two rotations at once would each drop the other's version."""
    ensure_private_dir(store_path.parent)
    fd = os.open(store_path.with_name(store_path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _parse(document: Any) -> dict[str, dict[str, SecretEntry]]:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SecretsError(f"the secrets store is not in format {FORMAT}")
    return {
        env: {
            name: SecretEntry(
                versions=[
                    Version(v["number"], v["value"], datetime.fromisoformat(v["created_at"]))
                    for v in entry["versions"]
                ],
                current=entry["current"],
                previous=entry.get("previous"),
            )
            for name, entry in names.items()
        }
        for env, names in document["environments"].items()
    }


def _dump(environments: dict[str, dict[str, SecretEntry]]) -> dict[str, Any]:
    return {
        env: {
            name: {
                "current": entry.current,
                "previous": entry.previous,
                "versions": [
                    {"number": v.number, "value": v.value, "created_at": v.created_at.isoformat()}
                    for v in entry.versions
                ],
            }
            for name, entry in names.items()
        }
        for env, names in environments.items()
    }


def utcnow() -> datetime:
    return datetime.now(UTC)
