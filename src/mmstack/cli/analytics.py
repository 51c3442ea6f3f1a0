"""`mmstack usage`: who used what, summed by day, user, key, team or model, with the
latency percentiles of the model calls. `mmstack stats`: the most searched queries, those
that found nothing, and how ingestion goes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer

from mmstack.cli.options import JsonOpt, cli_settings
from mmstack.cli.output import fail, print_json, print_table
from mmstack.config.logging import configure_logging
from mmstack.errors import MMStackError

if TYPE_CHECKING:
    from mmstack.auth.quotas import QuotaService
    from mmstack.knowledge.analytics import Analytics

EPOCH = dt.date(1970, 1, 1)
DEFAULT_DAYS = 7


def _parse_day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option} takes a day as YYYY-MM-DD, not {value!r}")


@contextmanager
def _readers() -> Iterator[tuple[QuotaService, Analytics]]:
    """The usage and analytics readers on the database alone: no models, no indexes, no
    data-directory lock, so these commands also run beside a serving `mmstack up`."""
    from mmstack.auth.quotas import QuotaService
    from mmstack.knowledge.analytics import Analytics
    from mmstack.store.migrate import migrated_database

    settings = cli_settings()
    configure_logging("WARNING", "console")
    try:
        with migrated_database(settings.sqlalchemy_url, settings.data_dir) as db:
            yield QuotaService(db, settings.quotas), Analytics(db, record_queries=False)
    except MMStackError as exc:
        fail(exc.message)


def _span(since: str | None, until: str | None) -> tuple[dt.date, dt.date]:
    today = dt.datetime.now(dt.UTC).date()
    last = _parse_day(until, "--until") or today
    first = _parse_day(since, "--since") or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        fail(f"--since ({first}) is after --until ({last})")
    return first, last


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


SinceOpt = Annotated[
    str | None, typer.Option(help=f"First day, YYYY-MM-DD (default: {DEFAULT_DAYS} days ago)")
]
UntilOpt = Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (default: today)")]


def usage(
    since: SinceOpt = None,
    until: UntilOpt = None,
    by: Annotated[
        str,
        typer.Option(help="Group by these, comma-separated: day, user, key, team, model"),
    ] = "day,user,model",
    json_out: JsonOpt = False,
) -> None:
    """Requests, tokens, upload bytes and model-call latency (p50/p95/p99, seconds) per
    group, from the usage the server records."""
    from mmstack.store.usage_report import DIMENSIONS, Dimension, UsageSummary

    first, last = _span(since, until)
    dimensions: list[Dimension] = []
    for name in filter(None, (part.strip() for part in by.split(","))):
        if name not in DIMENSIONS:
            fail(f"--by takes {', '.join(DIMENSIONS)}; not {name!r}")
        if name not in dimensions:
            dimensions.append(name)
    with _readers() as (quotas, _):
        summaries = quotas.summaries(
            since_day=(first - EPOCH).days, until_day=(last - EPOCH).days, by=dimensions
        )

    def named(dimension: Dimension, s: UsageSummary) -> str | None:
        if dimension == "day":
            return None if s.day is None else (EPOCH + dt.timedelta(days=s.day)).isoformat()
        if dimension == "user":
            return s.username or s.user_id
        if dimension == "team":
            return s.team_id
        return (s.key_id if dimension == "key" else s.model) or "-"

    if json_out:
        print_json(
            [
                {d: named(d, s) for d in dimensions}
                | {
                    "requests": s.requests,
                    "prompt_tokens": s.prompt_tokens,
                    "completion_tokens": s.completion_tokens,
                    "upload_bytes": s.upload_bytes,
                    "latency_p50": s.latency_p50,
                    "latency_p95": s.latency_p95,
                    "latency_p99": s.latency_p99,
                }
                for s in summaries
            ]
        )
        return
    print_table(
        f"usage {first} to {last}",
        [*dimensions, "requests", "tokens in", "tokens out", "uploaded", "p50 s", "p95 s", "p99 s"],
        [
            [
                *(named(d, s) for d in dimensions),
                s.requests,
                s.prompt_tokens,
                s.completion_tokens,
                s.upload_bytes,
                _seconds(s.latency_p50),
                _seconds(s.latency_p95),
                _seconds(s.latency_p99),
            ]
            for s in summaries
        ],
    )


def stats(
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Queries listed")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """The most searched queries (with the share whose results had one opened), the
    queries that found nothing, and ingestion: files by state, failures by reason, files
    and chunks finished per day."""
    first, last = _span(since, until)
    since_day, until_day = (first - EPOCH).days, (last - EPOCH).days
    with _readers() as (_, analytics):
        top = analytics.queries(since_day=since_day, until_day=until_day, limit=limit)
        empty = analytics.queries(
            since_day=since_day, until_day=until_day, limit=limit, zero_only=True
        )
        ingestion = analytics.ingestion(since_day=since_day, until_day=until_day)
    if json_out:
        print_json(
            {
                "since": first.isoformat(),
                "until": last.isoformat(),
                "top_queries": [asdict(q) for q in top],
                "zero_result_queries": [asdict(q) for q in empty],
                "ingestion": asdict(ingestion),
            }
        )
        return
    for title, queries in (("top queries", top), ("queries that found nothing", empty)):
        print_table(
            f"{title}, {first} to {last}",
            ["query", "searches", "found nothing", "users", "mean results", "mean s", "opened"],
            [
                [
                    q.query,
                    q.searches,
                    q.zero_results,
                    q.users,
                    f"{q.mean_results:.1f}",
                    f"{q.mean_seconds:.3f}",
                    f"{q.click_through:.0%}",
                ]
                for q in queries
            ],
        )
    print_table("files by state, now", ["state", "files"], sorted(ingestion.by_status.items()))
    print_table("failures by reason", ["reason", "files"], list(ingestion.failures.items()))
    print_table(
        "ingestion per day",
        ["day", "files", "failed", "chunks", "median s"],
        [
            [
                (EPOCH + dt.timedelta(days=d.day)).isoformat(),
                d.files,
                d.failed,
                d.chunks,
                _seconds(d.median_seconds),
            ]
            for d in ingestion.days
        ],
    )
