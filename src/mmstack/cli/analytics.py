"""`mmstack usage`: who used what, summed by day, user, key, team or model, with the
latency percentiles of the model calls."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from mmstack.cli.options import JsonOpt, opened_stack
from mmstack.cli.output import fail, print_json, print_table

EPOCH = dt.date(1970, 1, 1)
DEFAULT_DAYS = 7


def _parse_day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option} takes a day as YYYY-MM-DD, not {value!r}")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def usage(
    since: Annotated[
        str | None, typer.Option(help=f"First day, YYYY-MM-DD (default: {DEFAULT_DAYS} days ago)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (default: today)")] = None,
    by: Annotated[
        str,
        typer.Option(help="Group by these, comma-separated: day, user, key, team, model"),
    ] = "day,user,model",
    json_out: JsonOpt = False,
) -> None:
    """Requests, tokens, upload bytes and model-call latency (p50/p95/p99, seconds) per
    group, from the usage the server records."""
    from mmstack.store.usage_report import DIMENSIONS, Dimension, UsageSummary

    today = dt.datetime.now(dt.UTC).date()
    last = _parse_day(until, "--until") or today
    first = _parse_day(since, "--since") or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        fail(f"--since ({first}) is after --until ({last})")
    dimensions: list[Dimension] = []
    for name in filter(None, (part.strip() for part in by.split(","))):
        if name not in DIMENSIONS:
            fail(f"--by takes {', '.join(DIMENSIONS)}; not {name!r}")
        if name not in dimensions:
            dimensions.append(name)
    with opened_stack() as stack:
        summaries = stack.auth.quotas.summaries(
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
