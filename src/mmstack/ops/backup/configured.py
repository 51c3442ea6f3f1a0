"""The backup service as the settings configure it: the repository (by default a folder
beside the data directory), its password (generated at the first backup unless set), the
credentials of an S3 repository, and the keep policy."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from mmstack.auth.access_tokens import deployment_key
from mmstack.config.settings import Settings
from mmstack.ops.backup.restic import BackupError, Restic
from mmstack.ops.backup.rotation import KeepPolicy
from mmstack.ops.backup.service import BackupService
from mmstack.ops.findings import Finding

PASSWORD_FILE = "backup-password"  # noqa: S105 (a file name)


def default_repository(data_dir: Path) -> Path:
    """Beside the data directory, so that wiping the data never takes the backups along."""
    return data_dir.parent / f"{data_dir.name}-backups"


def backup_service(settings: Settings) -> BackupService:
    config = settings.backup
    repository = config.repository or str(default_repository(settings.data_dir))
    environment: dict[str, str] = {}
    if repository.startswith("s3:"):
        if config.password is None:
            raise_password_needed(repository)
        if config.s3_access_key_id and config.s3_secret_access_key:
            environment["AWS_ACCESS_KEY_ID"] = config.s3_access_key_id
            environment["AWS_SECRET_ACCESS_KEY"] = config.s3_secret_access_key.get_secret_value()
        environment["AWS_DEFAULT_REGION"] = config.s3_region
    password = (
        config.password.get_secret_value()
        if config.password
        else deployment_key(None, settings.data_dir / "secrets" / PASSWORD_FILE).hex()
    )
    restic = Restic(
        repository,
        password,
        program=config.restic,
        environment=environment,
        cache_dir=settings.data_dir / "backup-cache",
    )
    policy = KeepPolicy(
        last=config.keep_last,
        daily=config.keep_daily,
        weekly=config.keep_weekly,
        monthly=config.keep_monthly,
    )
    return BackupService(restic, settings.data_dir / "backup-staging", policy)


def existing_backup_service(settings: Settings) -> BackupService | None:
    """The backup service when backups were ever set up here (a configured password, or
    the one the first backup generated); None otherwise, so that merely looking (retention's
    plan) generates no password."""
    generated = settings.data_dir / "secrets" / PASSWORD_FILE
    if settings.backup.password is None and not generated.exists():
        return None
    return backup_service(settings)


def raise_password_needed(repository: str) -> NoReturn:
    raise BackupError(
        f"the backup repository {repository} is not on this machine: set its password "
        "(MMSTACK_BACKUP__PASSWORD or MMSTACK_BACKUP__PASSWORD_FILE) and keep a copy apart "
        "from the data"
    )


def backup_check(settings: Settings, now: float) -> list[Finding]:
    """`mmstack doctor`: backups are set up, restic runs, the repository opens, and the
    newest backup is not older than the schedule allows."""
    interval = settings.backup.interval_hours
    scheduled = interval > 0
    try:
        service = existing_backup_service(settings)
        if service is None and not scheduled:
            return [
                Finding(
                    "backup",
                    "medium",
                    "no backup was ever taken here and none is scheduled",
                    "take one (`mmstack backup create`), or set backup.interval_hours",
                    "backup",
                )
            ]
        service = service or backup_service(settings)
        complete = [b for b in service.backups() if b.complete]
    except BackupError as exc:
        return [
            Finding(
                "backup",
                "high" if scheduled else "medium",
                f"backups cannot run: {exc.message}",
                "install restic, or correct backup.repository and its password and "
                "credentials (MMSTACK_BACKUP__*; docs/CONFIGURATION.md)",
                "backup",
            )
        ]
    where = service.repository
    if not complete:
        message = f"no complete backup in {where}"
        if scheduled:
            return [Finding("backup", "high", message, "take one", "backup")]
        return [Finding("backup", "medium", message, "take one", "backup")]
    age_hours = (now - complete[-1].created_at) / 3600
    late = scheduled and age_hours > 2 * interval
    message = f"the newest of {len(complete)} backups in {where} is {age_hours:.1f} h old"
    if late:
        fix = "the backup job has not run: check the workers' logs (`mmstack worker`)"
        return [Finding("backup", "high", message, fix, "backup")]
    return [Finding("backup", "info", message)]
