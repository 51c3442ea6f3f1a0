"""What authentication and quota checking add to each request, as ratios against baselines
measured in the same run, interleaved so that a change in machine load hits every row alike.

1. In-process, the exact code of a request: `Auth.authenticate("Bearer mmk_...")` and
   `QuotaService.check_request` (what `api/deps.py::current_principal` runs), and
   `check_tokens` (run before each model call), against a bare `SELECT 1` on a pooled
   DB-API connection of the same database (the least a check that reads it can cost).
   SQLite (a fresh data directory) and, with `--postgres`, the local PostgreSQL (a fresh
   schema, dropped afterwards).
2. Over HTTP: the app `mmstack up` serves, in its own process run as `up` runs it, and
   one keep-alive httpx client. `GET /v1/models` with an API key and with a login's access
   token, against the same route in the same server with `current_principal` skipped (a
   bench-only header gives a fixed caller: no authentication, no rate limit), and against
   the public `GET /healthz` (baseline 1.00). Added = p50 with a key - p50 skipped. Turns
   of `--block` requests per row, the order rotating; the server's CPU time per request
   (all its threads, from /proc) is measured per turn, which a busy machine distorts less.

Rate limits are counted (requests_per_minute set so high that it never trips) and
tokens_per_day is set, so `check_tokens` runs its query. Target: p50 <= 0.5 ms added.

    .venv/bin/python -m bench.auth [--iterations 5000] [--requests 2000] [--postgres]
        [--skip-http] [--skip-in-process] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi import Request

from bench.common import (
    free_port,
    median,
    percentile,
    print_table,
    start_server,
    stop_server,
    wait_ready,
)
from mmstack.auth.audit import Actor
from mmstack.auth.roles import ROLE_PERMISSIONS, Role
from mmstack.auth.service import Auth, open_accounts
from mmstack.config.settings import QuotaSettings, Settings
from mmstack.store.db import Database

TARGET_MS = 0.5
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
SKIP_AUTH = "x-bench-skip-auth"
NEVER = 1_000_000_000  # a rate limit that is counted but never reached
QUOTAS = {"requests_per_minute": NEVER, "tokens_per_day": NEVER}
USER = "bench"
PASSWORD = "correct horse battery staple"  # a throwaway data directory


@contextmanager
def _postgres_url(dsn: str) -> Iterator[str]:
    import psycopg

    schema = f"mmstack_bench_{secrets.token_hex(6)}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    base = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _make_user(auth: Auth) -> tuple[str, str]:
    """A developer with an API key, and an access token from a real login."""
    auth.accounts.create_user(USER, role=Role.DEVELOPER, actor=Actor.local(), password=PASSWORD)
    _, key = auth.keys.create(USER, name="bench", actor=Actor.local())
    token = auth.logins.login(USER, PASSWORD, address=None).access_token
    return key, token


def _timed(steps: dict[str, Callable[[], object]], iterations: int) -> dict[str, list[float]]:
    """Each step once per round, the order rotating each round; microseconds."""
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for i in range(iterations):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            step = steps[name]
            started = clock()
            step()
            times[name].append((clock() - started) * 1e6)
    return times


def in_process(
    label: str, database_url: str | None, iterations: int, profile: Path | None
) -> list[list[str]]:
    data_dir = Path(tempfile.mkdtemp(prefix="mmstack-bench-auth-"))
    settings = Settings(
        data_dir=data_dir,
        quotas=QuotaSettings(**QUOTAS),
        database_url=database_url,
    )
    with open_accounts(settings) as auth:
        key, token = _make_user(auth)
        key_header, token_header = f"Bearer {key}", f"Bearer {token}"
        quotas = auth.quotas
        principal = auth.authenticate(key_header)
        baseline_db = Database(settings.sqlalchemy_url)  # the same engine settings
        engine = baseline_db.engine

        def bare_select() -> None:  # the least any check that reads the database costs
            connection = engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.execute("SELECT 1")
                cursor.fetchone()
                cursor.close()
            finally:
                connection.close()

        def per_request() -> None:  # current_principal
            quotas.check_request(auth.authenticate(key_header))

        def per_model_call() -> None:
            caller = auth.authenticate(key_header)
            quotas.check_request(caller)
            quotas.check_tokens(caller)

        def per_request_token() -> None:
            quotas.check_request(auth.authenticate(token_header))

        steps: dict[str, Callable[[], object]] = {
            "SELECT 1, pooled DB-API connection": bare_select,
            "authenticate, API key": lambda: auth.authenticate(key_header),
            "check_request (rate limits)": lambda: quotas.check_request(principal),
            "check_tokens (daily tokens)": lambda: quotas.check_tokens(principal),
            "per request: API key + check_request": per_request,
            "per model call: API key + check_request + check_tokens": per_model_call,
            "per request: access token + check_request": per_request_token,
        }
        _timed(steps, min(500, iterations))  # warm-up: pools, statement caches
        times = _timed(steps, iterations)
        if profile is not None:
            profiler = cProfile.Profile()
            profiler.runcall(_timed, {"model call": per_model_call}, iterations)
            profiler.dump_stats(profile.with_suffix(f".{label.split()[0].lower()}.prof"))
        baseline_db.dispose()
    shutil.rmtree(data_dir, ignore_errors=True)
    base = median(times["SELECT 1, pooled DB-API connection"])
    rows = [[f"in-process, {label}", f"{iterations} rounds", "", "", ""]]
    for name, values in times.items():
        p50 = median(values)
        rows.append(
            [
                f"  {name}",
                f"{p50:.0f} us",
                f"{percentile(values, 95):.0f} us",
                "1.00 (baseline)" if name.startswith("SELECT 1") else f"{p50 / base:.2f}",
                "",
            ]
        )
    return rows


# HTTP


def _server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")}
    return {
        **env,
        "MMSTACK_DATA_DIR": str(data_dir),
        "MMSTACK_LOG_LEVEL": "WARNING",
        "MMSTACK_LLM__EMBEDDED__ENABLED": "false",
        "MMSTACK_QUOTAS__REQUESTS_PER_MINUTE": str(QUOTAS["requests_per_minute"]),
        "MMSTACK_QUOTAS__TOKENS_PER_DAY": str(QUOTAS["tokens_per_day"]),
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), *filter(None, [env.get("PYTHONPATH")])]
        ),
    }


def serve(port: int) -> None:
    """The app `mmstack up` serves, run as `up` runs it, except that a request with the
    header `SKIP_AUTH` gets a fixed caller instead of `current_principal`'s work: the
    baseline is the same route in the same process. Every other request pays one header
    lookup more than under `mmstack up` (well under a microsecond)."""
    import uvicorn

    from mmstack.api.app import create_app
    from mmstack.api.deps import current_principal
    from mmstack.auth.principal import Principal
    from mmstack.store.models import DEFAULT_TEAM_ID

    fixed = Principal(
        "user_bench", USER, DEFAULT_TEAM_ID, Role.DEVELOPER, ROLE_PERMISSIONS[Role.DEVELOPER]
    )

    async def principal_or_fixed(request: Request) -> Principal:
        if SKIP_AUTH in request.headers:
            request.state.principal = fixed
            return fixed
        return await current_principal(request)

    settings = Settings()
    app = create_app(settings)
    app.dependency_overrides[current_principal] = principal_or_fixed
    uvicorn.run(app, host=settings.host, port=port, log_config=None, access_log=False)


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed_blocks(
    steps: dict[str, Callable[[], object]], rounds: int, block: int, pid: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Turns of `block` requests per step, the order rotating each round: milliseconds per
    request, and the server's CPU milliseconds per request of each step."""
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu = dict.fromkeys(names, 0.0)
    clock = time.perf_counter
    for i in range(rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            step, record = steps[name], times[name].append
            before = _cpu_seconds(pid)
            for _ in range(block):
                started = clock()
                step()
                record((clock() - started) * 1000)
            cpu[name] += _cpu_seconds(pid) - before
    return times, {name: cpu[name] * 1000 / len(times[name]) for name in names}


def over_http(requests: int, block: int) -> list[list[str]]:
    data_dir = Path(tempfile.mkdtemp(prefix="mmstack-bench-auth-http-"))
    # The user and key are made as `mmstack users/keys create` make them, on the database
    # the server then opens.
    with open_accounts(Settings(data_dir=data_dir, quotas=QuotaSettings(**QUOTAS))) as auth:
        auth.accounts.create_user(USER, role=Role.DEVELOPER, actor=Actor.local(), password=PASSWORD)
        _, key = auth.keys.create(USER, name="bench", actor=Actor.local())
    port = free_port()
    log = data_dir / "server.log"
    server = start_server(
        [sys.executable, "-m", "bench.auth", "--serve", str(port)], _server_env(data_dir), log
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_ready(client, server, log)
            login = client.post("/api/auth/login", json={"username": USER, "password": PASSWORD})
            login.raise_for_status()
            token = login.json()["access_token"]
            key_headers = {"Authorization": f"Bearer {key}"}
            token_headers = {"Authorization": f"Bearer {token}"}
            skip_headers = {SKIP_AUTH: "1"}
            served = [
                m["id"] for m in client.get("/v1/models", headers=skip_headers).json()["data"]
            ]
            for headers in (key_headers, token_headers):
                answer = client.get("/v1/models", headers=headers)
                answer.raise_for_status()
                assert [m["id"] for m in answer.json()["data"]] == served, answer.text
            assert client.get("/v1/models").status_code == 401

            def get(path: str, headers: dict[str, str] | None) -> None:
                response = client.get(path, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")

            steps: dict[str, Callable[[], object]] = {
                "GET /healthz (public)": lambda: get("/healthz", None),
                "GET /v1/models, no auth (fixed principal)": lambda: get(
                    "/v1/models", skip_headers
                ),
                "GET /v1/models, API key": lambda: get("/v1/models", key_headers),
                "GET /v1/models, access token": lambda: get("/v1/models", token_headers),
            }
            _timed_blocks(steps, 2, block, server.pid)  # warm-up
            times, cpu = _timed_blocks(steps, max(1, requests // block), block, server.pid)
    finally:
        stop_server(server)
    shutil.rmtree(data_dir, ignore_errors=True)  # kept, with the server's log, on a failure
    base = median(times["GET /healthz (public)"])
    no_auth = median(times["GET /v1/models, no auth (fixed principal)"])
    no_auth95 = percentile(times["GET /v1/models, no auth (fixed principal)"], 95)
    no_auth_cpu = cpu["GET /v1/models, no auth (fixed principal)"]
    count = len(times["GET /healthz (public)"])
    rows = [
        ["over HTTP (the app of mmstack up, keep-alive httpx)", f"{count} requests", "", "", ""]
    ]
    for name, values in times.items():
        p50 = median(values)
        ratio = "1.00 (baseline)" if name == "GET /healthz (public)" else f"{p50 / base:.2f}"
        used = f"{cpu[name]:.3f} ms"
        if "API key" in name or "access token" in name:
            added95 = percentile(values, 95) - no_auth95
            ratio += f"; added: p50 {p50 - no_auth:+.3f} ms, p95 {added95:+.3f} ms"
            used += f" ({cpu[name] - no_auth_cpu:+.3f})"
        row = [f"  {name}", f"{p50:.3f} ms", f"{percentile(values, 95):.3f} ms", ratio, used]
        rows.append(row)
    added = median(times["GET /v1/models, API key"]) - no_auth
    verdict = "met" if added <= TARGET_MS else "NOT met"
    summary = f"  added by API-key auth + rate limit, p50: {added:.3f} ms"
    rows.append([summary, "", "", f"target <= {TARGET_MS} ms: {verdict}", ""])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=5000, help="in-process rounds")
    parser.add_argument("--requests", type=int, default=2000, help="HTTP requests per row")
    parser.add_argument("--block", type=int, default=50, help="HTTP requests per turn")
    parser.add_argument("--postgres", action="store_true", help="also in-process on PostgreSQL")
    parser.add_argument("--pg-dsn", default=os.environ.get("MMSTACK_TEST_PG", PG_DSN))
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument("--profile", type=Path, help="cProfile the in-process model-call path")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    rows: list[list[str]] = []
    if not args.skip_in_process:
        rows += in_process("SQLite", None, args.iterations, args.profile)
        if args.postgres:
            with _postgres_url(args.pg_dsn) as url:
                rows += in_process("PostgreSQL", url, args.iterations, args.profile)
    if not args.skip_http:
        rows += over_http(args.requests, args.block)
    print()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    columns = ["measure", "p50", "p95", "ratio to baseline", "server CPU per request"]
    print_table(columns, rows)


if __name__ == "__main__":
    main()
