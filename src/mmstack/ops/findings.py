"""What `mmstack doctor` reports: one finding per problem, with its severity and its fix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Final, Literal

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: Final[tuple[Severity, ...]] = ("critical", "high", "medium", "low", "info")
BLOCKING: Final[frozenset[Severity]] = frozenset({"critical", "high"})


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Severity
    message: str
    fix: str = ""
    where: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first; otherwise in the order found."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


def blocking(findings: Iterable[Finding]) -> bool:
    return any(f.severity in BLOCKING for f in findings)
