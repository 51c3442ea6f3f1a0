"""Gateway overhead: chat completions passed through mmstack to a local fake upstream, against
calling the fake directly and against LiteLLM's proxy on the same fake, all in one run.

    .venv/bin/python -m bench.gateway [--requests 1000] [--clients 1,4,16,64] [--duration 5]

Every server runs in a process of its own on 127.0.0.1: the fake upstream
(`bench.fake_upstream`), `mmstack up` (embedded LLM off, one upstream: the fake) and
`litellm --num_workers 1` (installed on first use into bench/results/litellm-venv with the
repository's uv; not a project dependency). One load generator drives all three targets the
same way: a lean asyncio HTTP/1.1 client (uvloop, httptools, keep-alive connections) that
checks every answer.

1. Latency: sequential requests on one keep-alive connection, the targets interleaved in
   rounds so that a change in machine load hits all of them alike. Reports p50 and p99, and
   the latency mmstack and LiteLLM add over calling the fake directly.
2. Throughput: for each number of concurrent clients (each with its own connection, closed
   loop), a warm-up, then a fixed duration; the best rate of a level without a single error
   (non-200, wrong body, broken connection, timeout) is the target's throughput.

Targets (issue 3): mmstack adds at most 2 ms at p50, and serves at least 3x LiteLLM's
throughput. The client, the fake and the gateway share the machine's cores; the CPU each
used is reported so that a saturated client can be told from a saturated gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import httptools
import httpx
import uvloop

from bench.common import percentile, print_table
from bench.fake_upstream import ANSWER, LAST_WORD

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
# The newest release that installs here: 1.107.0 was a compromised release (withdrawn), and
# the later ones need packages (litellm-proxy, newer litellm-proxy-extras) the registry lacks.
LITELLM_VERSION = "1.106.12"
MODEL = "fake-model"
MODES = ("whole", "stream")
REQUEST = {
    "model": MODEL,
    "messages": [
        {"role": "system", "content": "You are a helpful assistant. Answer in one sentence."},
        {"role": "user", "content": "What does a gateway in front of a language model do?"},
    ],
    "max_tokens": 64,
    "temperature": 0,
}
REQUEST_TIMEOUT = 30.0
TICKS = os.sysconf("SC_CLK_TCK")


# -- servers ----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(name: str, argv: Sequence[str], env: dict[str, str], workdir: Path, port: int) -> Server:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    return Server(name, port, process, log)


def _wait_ready(server: Server, path: str, timeout: float) -> str | None:
    """None once `GET path` answers 200; otherwise why not."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return f"exited with {server.process.returncode}: {_tail(server.log)}"
            try:
                if client.get(path).status_code == 200:
                    return None
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    return f"not ready after {timeout:.0f} s: {_tail(server.log)}"


def _tail(log: Path, lines: int = 5) -> str:
    text = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return " | ".join(text[-lines:]) or "(no output)"


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(server.stop_signal)
        try:
            server.process.wait(15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)


def start_fake(workdir: Path) -> Server:
    port = _free_port()
    argv = [sys.executable, "-m", "bench.fake_upstream", "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return _spawn("fake", argv, env, workdir, port)


def mmstack_key(data_dir: Path) -> str:
    """An API key of a developer, made on the data directory before the server starts."""
    from mmstack.auth.audit import Actor
    from mmstack.auth.roles import Role
    from mmstack.auth.service import open_accounts
    from mmstack.config.settings import Settings

    with open_accounts(Settings(data_dir=data_dir)) as auth:
        actor = Actor.local()
        user, _ = auth.accounts.create_user("bench", role=Role.DEVELOPER, actor=actor)
        return auth.keys.create(user.id, name="gateway bench", actor=actor)[1]


def start_mmstack(workdir: Path, fake_port: int, profile: Path | None = None) -> Server:
    port = _free_port()
    upstream = {"name": "fake", "base_url": f"http://127.0.0.1:{fake_port}/v1", "models": [MODEL]}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSTACK_")}
    env |= {
        "MMSTACK_DATA_DIR": str(workdir / "mmstack-data"),
        "MMSTACK_LOG_LEVEL": "WARNING",
        "MMSTACK_LLM__EMBEDDED__ENABLED": "false",
        "MMSTACK_LLM__UPSTREAMS": json.dumps([upstream]),
        "MMSTACK_LLM__DEFAULT_MODEL": MODEL,
        # No request quota: the load test is the point (LiteLLM runs without limits too).
        "MMSTACK_QUOTAS__REQUESTS_PER_MINUTE": "0",
    }
    argv = [sys.executable, "-m", "mmstack", "up", "--port", str(port)]
    if profile is None:
        return _spawn("mmstack", argv, env, workdir, port)
    argv[1:3] = ["-c", _PROFILED, str(profile.resolve())]
    server = _spawn("mmstack", argv, env, workdir, port)
    # uvicorn re-raises the signal that stopped it: SIGINT ends in KeyboardInterrupt, after
    # which the stats are written (SIGTERM would kill the process before).
    server.stop_signal = signal.SIGINT
    return server


# `mmstack up` under cProfile, timed in CPU time of the event loop's thread: wall time would
# count the time the process waits for a core on a busy machine.
_PROFILED = """
import cProfile, sys, time
out = sys.argv.pop(1)
sys.argv[0] = "mmstack"
from mmstack.cli.main import app
profile = cProfile.Profile(time.thread_time)
try:
    profile.runcall(app, prog_name="mmstack")
except (SystemExit, KeyboardInterrupt):
    pass
finally:
    profile.dump_stats(out)
"""


def _uv() -> str | None:
    pinned = REPO / ".tools" / "bin" / "uv"
    return str(pinned) if pinned.exists() else shutil.which("uv")


def litellm_venv(version: str) -> Path:
    name = "litellm-venv" if version == LITELLM_VERSION else f"litellm-venv-{version}"
    return RESULTS / name


def ensure_litellm(version: str) -> tuple[Path | None, str]:
    """LiteLLM's `litellm` command in its own venv, installed on first use; and a note on the
    install (how long it took), or why there is none."""
    venv = litellm_venv(version)
    exe = venv / "bin" / "litellm"
    marker = venv / f".installed-{version}"
    if marker.exists() and exe.exists():
        return exe, f"installed earlier ({marker.read_text().strip()})"
    uv = _uv()
    if uv is None:
        return None, "no uv to install it with (.tools/bin/uv or uv on PATH)"
    shutil.rmtree(venv, ignore_errors=True)
    print(f"installing litellm[proxy]=={version} into {venv} ...", flush=True)
    started = time.perf_counter()
    base_python = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [uv, "venv", "-q", "--python", base_python, str(venv)],
        [
            uv,
            "pip",
            "install",
            "-q",
            "--compile-bytecode",
            "--python",
            str(venv / "bin" / "python"),
            f"litellm[proxy]=={version}",
        ],
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    for step in steps:
        try:
            done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=1800)
        except subprocess.TimeoutExpired:
            shutil.rmtree(venv, ignore_errors=True)
            return None, "installing it took over 30 minutes"
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            lines = (done.stderr or done.stdout).strip().splitlines()
            return None, "install failed: " + " | ".join(lines[-4:])
    took = time.perf_counter() - started
    note = f"installed in {took:.0f} s on {datetime.now(UTC):%Y-%m-%d}"
    marker.write_text(note + "\n")
    return exe, note


def start_litellm(workdir: Path, exe: Path, fake_port: int) -> Server:
    port = _free_port()
    config = {  # JSON is YAML
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"openai/{MODEL}",
                    "api_base": f"http://127.0.0.1:{fake_port}/v1",
                    "api_key": "sk-bench",
                },
            }
        ],
        "litellm_settings": {"drop_params": True, "set_verbose": False},
        # No master key: no authentication, as mmstack here (LiteLLM's cheapest path).
        "general_settings": {"dangerously_permit_weak_or_unset_master_key": True},
    }
    path = workdir / "litellm.yaml"
    path.write_text(json.dumps(config, indent=2))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env |= {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
        "DISABLE_SCHEMA_UPDATE": "True",
    }
    argv = [str(exe), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--num_workers", "1", "--telemetry", "False"]
    return _spawn("litellm", argv, env, workdir, port)


# -- CPU accounting ---------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat_fields(int(entry))[1]), []).append(int(entry))
            except (OSError, IndexError):
                continue
    found, todo = [pid], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its descendants, in seconds."""
    total = 0
    for p in _descendants(pid):
        try:
            fields = _stat_fields(p)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores) since boot."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICKS


@dataclass
class CpuWindow:
    """CPU used over a window, in cores (1.0: one core busy the whole time)."""

    client: float
    fake: float
    gateway: float
    others: float


@contextmanager
def cpu_window(fake_pid: int, gateway_pid: int | None, out: list[CpuWindow]) -> Iterator[None]:
    def sample() -> tuple[float, float, float, float, float]:
        gateway = cpu_seconds(gateway_pid) if gateway_pid is not None else 0.0
        return (
            time.perf_counter(),
            time.process_time(),
            cpu_seconds(fake_pid),
            gateway,
            machine_busy_seconds(),
        )

    before = sample()
    yield
    after = sample()
    wall, client, fake, gateway, busy = (a - b for a, b in zip(after, before, strict=True))
    window = CpuWindow(client / wall, fake / wall, gateway / wall, 0.0)
    window.others = max(0.0, busy / wall - window.client - window.fake - window.gateway)
    out.append(window)


# -- load generation --------------------------------------------------------------------------


class RequestFailedError(Exception):
    pass


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time, the response parsed by
    httptools (content-length or chunked)."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._body: list[bytes] = []
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.usable = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self.usable = True

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"unparsable response ({exc})")

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("connection closed")

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self.usable = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), b"".join(self._body)))

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        """Status and body; raises RequestFailedError on a broken connection or timeout."""
        if not self.usable or self._transport is None:
            raise RequestFailedError("connection not usable")
        loop = asyncio.get_running_loop()
        self._body = []
        waiter: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        self._waiter = waiter
        timer = loop.call_later(REQUEST_TIMEOUT, self._fail, "timeout")
        self._transport.write(payload)
        try:
            return await waiter
        finally:
            timer.cancel()

    def _fail(self, reason: str) -> None:
        self.usable = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(RequestFailedError(reason))
        if self._transport is not None and reason != "connection closed":
            self._transport.abort()

    def close(self) -> None:
        self.usable = False
        if self._transport is not None:
            self._transport.close()


async def connect(port: int) -> HttpConnection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(HttpConnection, "127.0.0.1", port)
    return protocol


def payload(port: int, mode: str, token: str) -> bytes:
    body = json.dumps({**REQUEST, "stream": True} if mode == "stream" else REQUEST).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


_ANSWER = ANSWER.encode()
_LAST = LAST_WORD.encode()


def quick_check(mode: str) -> Callable[[bytes], bool]:
    """The check made on every answer: cheap, so that the client stays light."""
    if mode == "whole":
        return lambda body: _ANSWER in body
    return lambda body: body.rstrip().endswith(b"data: [DONE]") and _LAST in body


def full_check(mode: str, status: int, body: bytes) -> str | None:
    """Why an answer is not the fake's answer, passed on intact; None if it is."""
    if status != 200:
        return f"status {status}: {body[:300]!r}"
    try:
        if mode == "whole":
            data = json.loads(body)
            if data.get("object") != "chat.completion":
                return f"not a chat.completion: {body[:300]!r}"
            text = data["choices"][0]["message"]["content"]
        else:
            events = [e for e in body.decode().split("\n\n") if e.startswith("data: ")]
            if not events or events[-1] != "data: [DONE]":
                return f"the stream does not end with [DONE]: {body[-300:]!r}"
            chunks = [json.loads(e[len("data: ") :]) for e in events[:-1]]
            if any(c.get("object") != "chat.completion.chunk" for c in chunks):
                return "an event is not a chat.completion.chunk"
            text = "".join(
                choice["delta"].get("content") or "" for c in chunks for choice in c["choices"]
            )
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return f"unreadable answer ({type(exc).__name__}): {body[:300]!r}"
    return None if text == ANSWER else f"the content differs: {text[:200]!r}"


@dataclass
class Target:
    name: str
    port: int
    pid: int | None  # the gateway's process (None for direct: the fake is counted anyway)
    failed: str | None = None
    token: str = "sk-bench"  # what it takes as a bearer token (mmstack: a key of its own)


@dataclass
class Level:
    clients: int
    ok: int  # good answers within the counted window
    answered: int  # good answers in the whole run, warm-up included
    errors: int
    seconds: float  # the counted window
    first_error: str | None
    cpu: CpuWindow | None = None  # over the whole run

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def gateway_ms(self, run_seconds: float) -> float | None:
        """The gateway's CPU time per answer, in ms."""
        if self.cpu is None or not self.answered:
            return None
        return self.cpu.gateway * run_seconds / self.answered * 1000


@dataclass
class Measured:
    latencies: list[float] = field(default_factory=list)  # ms
    levels: list[Level] = field(default_factory=list)
    failed: str | None = None

    def best(self) -> Level | None:
        clean = [level for level in self.levels if level.errors == 0 and level.ok > 0]
        return max(clean, key=lambda level: level.rate, default=None)


async def validate(target: Target, mode: str, warmup: int) -> str | None:
    conn = await connect(target.port)
    data = payload(target.port, mode, target.token)
    try:
        for n in range(warmup):
            status, body = await conn.request(data)
            if n == 0 or status != 200:
                problem = full_check(mode, status, body)
                if problem is not None:
                    return problem
            if not conn.usable:
                conn = await connect(target.port)
    except (OSError, RequestFailedError) as exc:
        return f"request failed: {exc}"
    finally:
        conn.close()
    return None


async def latency(
    targets: Sequence[Target], mode: str, requests: int, per_round: int
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Sequential requests, one keep-alive connection per target, the targets taking turns
    of `per_round` requests. Latencies in ms by target; why a target failed, if one did (it
    is dropped from later turns)."""
    datas = {t.name: payload(t.port, mode, t.token) for t in targets}
    check = quick_check(mode)
    samples: dict[str, list[float]] = {t.name: [] for t in targets}
    failed: dict[str, str] = {}
    conns: dict[str, HttpConnection] = {}
    try:
        for _ in range(max(1, requests // per_round)):
            for target in targets:
                if target.name in failed:
                    continue
                data, times = datas[target.name], samples[target.name]
                try:
                    for _ in range(per_round):
                        conn = conns.get(target.name)
                        if conn is None or not conn.usable:
                            conn = conns[target.name] = await connect(target.port)
                        started = time.perf_counter()
                        status, body = await conn.request(data)
                        times.append((time.perf_counter() - started) * 1000)
                        if status != 200 or not check(body):
                            raise RequestFailedError(full_check(mode, status, body) or "bad")
                except (OSError, RequestFailedError) as exc:
                    failed[target.name] = f"failed during the latency run: {exc}"
    finally:
        for conn in conns.values():
            conn.close()
    return samples, failed


async def load(
    port: int, token: str, mode: str, clients: int, warmup: float, duration: float
) -> Level:
    """`clients` closed-loop clients for warmup + duration seconds; answers completed within
    the last `duration` seconds count. Any error in the whole run counts."""
    data = payload(port, mode, token)
    check = quick_check(mode)
    start = time.perf_counter()
    window_start, window_end = start + warmup, start + warmup + duration
    ok = answered = errors = 0
    first_error: list[str] = []

    def error(reason: str) -> None:
        nonlocal errors
        errors += 1
        if not first_error:
            first_error.append(reason)

    async def client() -> None:
        nonlocal ok, answered
        conn: HttpConnection | None = None
        try:
            while time.perf_counter() < window_end:
                if conn is None or not conn.usable:
                    try:
                        conn = await connect(port)
                    except OSError as exc:
                        error(f"connect: {exc}")
                        await asyncio.sleep(0.05)
                        continue
                try:
                    status, body = await conn.request(data)
                except RequestFailedError as exc:
                    error(str(exc))
                    continue
                if status != 200 or not check(body):
                    error(full_check(mode, status, body) or "bad answer")
                    continue
                answered += 1
                if window_start <= time.perf_counter() <= window_end:
                    ok += 1
        finally:
            if conn is not None:
                conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    first = first_error[0] if first_error else None
    return Level(clients, ok, answered, errors, duration, first)


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Options:
    requests: int
    per_round: int
    clients: list[int]
    warmup: float
    duration: float
    modes: list[str]


async def measure(
    targets: Sequence[Target], fake_pid: int, opts: Options
) -> dict[tuple[str, str], Measured]:
    results = {(t.name, mode): Measured() for t in targets for mode in opts.modes}
    for mode in opts.modes:
        live = []
        for target in targets:
            if target.failed is not None:
                results[(target.name, mode)].failed = target.failed
                continue
            problem = await validate(target, mode, warmup=50)
            if problem is not None:
                print(f"{target.name} ({mode}): {problem}", flush=True)
                results[(target.name, mode)].failed = problem
                if target.name == "direct":
                    raise SystemExit("the fake upstream does not answer as it should")
            else:
                live.append(target)
        samples, failures = await latency(live, mode, opts.requests, opts.per_round)
        for name, problem in failures.items():
            print(f"{name} ({mode}): {problem}", flush=True)
            results[(name, mode)].failed = problem
        live = [t for t in live if t.name not in failures]
        for name, times in samples.items():
            if name in failures:
                continue
            results[(name, mode)].latencies = times
            print(
                f"latency {mode:6} {name:8} p50 {percentile(times, 50):.2f} ms, "
                f"p99 {percentile(times, 99):.2f} ms ({len(times)} requests)",
                flush=True,
            )
        for clients in opts.clients:
            for target in live:
                windows: list[CpuWindow] = []
                with cpu_window(fake_pid, target.pid, windows):
                    level = await load(
                        target.port, target.token, mode, clients, opts.warmup, opts.duration
                    )
                level.cpu = windows[0]
                results[(target.name, mode)].levels.append(level)
                cpu = level.cpu
                print(
                    f"load    {mode:6} {target.name:8} {clients:3} clients: "
                    f"{level.rate:8.1f} req/s, {level.errors} errors; CPU (cores) client "
                    f"{cpu.client:.2f}, fake {cpu.fake:.2f}, gateway {cpu.gateway:.2f}, "
                    f"others {cpu.others:.2f}" + (f"; {level.first_error}" if level.errors else ""),
                    flush=True,
                )
    return results


COLUMNS = [
    "target",
    "p50 ms",
    "p99 ms",
    "added p50 ms",
    "added p99 ms",
    "best req/s without errors (clients)",
    "vs direct",
    "server CPU ms per answer",
    "CPU cores at best: client / fake / gateway / others",
]


def table(
    targets: Sequence[Target], results: dict[tuple[str, str], Measured], opts: Options
) -> list[list[str]]:
    run_seconds = opts.warmup + opts.duration
    rows = []
    for mode in opts.modes:
        direct = results[("direct", mode)]
        base50 = percentile(direct.latencies, 50)
        base99 = percentile(direct.latencies, 99)
        direct_best = direct.best()
        rates: dict[str, float] = {}
        for target in targets:
            m = results[(target.name, mode)]
            label = f"{target.name}, {'non-streaming' if mode == 'whole' else 'streaming'}"
            if m.failed is not None or not m.latencies:
                reason = m.failed or "no answers"
                reason = reason if len(reason) < 60 else reason[:57] + "..."
                rows.append([label, f"not measured: {reason}"] + [""] * (len(COLUMNS) - 2))
                continue
            p50, p99 = percentile(m.latencies, 50), percentile(m.latencies, 99)
            best = m.best()
            gateway = target.name != "direct"
            cpu = server_ms = ""
            if best is not None and best.cpu is not None:
                c = best.cpu
                cpu = f"{c.client:.2f} / {c.fake:.2f} / " + (f"{c.gateway:.2f}" if gateway else "-")
                cpu += f" / {c.others:.2f}"
                if gateway:
                    ms = best.gateway_ms(run_seconds)
                else:  # the fake's own
                    ms = c.fake * run_seconds / best.answered * 1000 if best.answered else None
                server_ms = f"{ms:.2f}" if ms is not None else ""
            if best is not None:
                rates[target.name] = best.rate
            rows.append(
                [
                    label,
                    f"{p50:.2f}",
                    f"{p99:.2f}",
                    f"{p50 - base50:+.2f}" if gateway else "0 (baseline)",
                    f"{p99 - base99:+.2f}" if gateway else "0 (baseline)",
                    f"{best.rate:,.0f} ({best.clients})" if best else "none without errors",
                    f"{best.rate / direct_best.rate:.3f}" if best and direct_best else "",
                    server_ms,
                    cpu,
                ]
            )
        if "mmstack" in rates and "LiteLLM" in rates:
            ratio = f"{rates['mmstack'] / rates['LiteLLM']:.2f}x"
            rows.append([f"mmstack / LiteLLM, {mode}", "", "", "", "", ratio, "", "", ""])
    return rows


def notes(results: dict[tuple[str, str], Measured], modes: Sequence[str], cores: int) -> list[str]:
    lines = []
    for mode in modes:
        direct = results[("direct", mode)].best()
        if direct is None or direct.cpu is None:
            continue
        c = direct.cpu
        lines.append(
            f"{mode}: at the direct peak the client used {c.client:.2f} cores, the fake "
            f"{c.fake:.2f}, other processes {c.others:.2f}, of {cores}."
            + (
                " The client is the ceiling there (it is near one full core): the direct "
                "figure is the client's limit, not the fake's."
                if c.client >= 0.85
                else " Neither the client nor the fake filled a core: the direct figure is "
                "bounded by the CPU left to them."
            )
        )
    whole = results.get(("mmstack", "whole"))
    direct_whole = results[("direct", "whole")]
    if whole is not None and whole.latencies and direct_whole.latencies:
        added = percentile(whole.latencies, 50) - percentile(direct_whole.latencies, 50)
        verdict = "met" if added <= 2.0 else "NOT met"
        lines.append(f"target added p50 <= 2 ms (non-streaming): {added:.2f} ms, {verdict}")
    lite = results.get(("LiteLLM", "whole"))
    if whole is not None and lite is not None:
        ours, theirs = whole.best(), lite.best()
        if ours is not None and theirs is not None:
            ratio = ours.rate / theirs.rate
            verdict = "met" if ratio >= 3.0 else "NOT met"
            lines.append(
                f"target throughput >= 3x LiteLLM (non-streaming): {ratio:.2f}x, {verdict}"
            )
        elif lite.failed is not None:
            lines.append(f"LiteLLM not measured: {lite.failed}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="per target, sequential")
    parser.add_argument("--per-round", type=int, default=100, help="sequential requests per turn")
    parser.add_argument("--clients", default="1,4,16,64", help="concurrency levels")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before counting")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds counted per level")
    parser.add_argument("--no-stream", action="store_true", help="non-streaming only")
    parser.add_argument("--no-litellm", action="store_true", help="skip LiteLLM")
    parser.add_argument(
        "--litellm-version", default=LITELLM_VERSION, help=f"default {LITELLM_VERSION}"
    )
    parser.add_argument(
        "--profile-mmstack", type=Path, help="run mmstack under cProfile, stats to this file"
    )
    args = parser.parse_args()
    opts = Options(
        requests=args.requests,
        per_round=args.per_round,
        clients=[int(c) for c in args.clients.split(",")],
        warmup=args.warmup,
        duration=args.duration,
        modes=["whole"] if args.no_stream else list(MODES),
    )
    version = args.litellm_version
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.no_litellm:
        litellm_exe, litellm_note = None, "skipped (--no-litellm)"
    else:
        litellm_exe, litellm_note = ensure_litellm(version)
    print(f"LiteLLM {version}: {litellm_note}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="mmstack-gateway-"))
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    busy_start, wall_start = machine_busy_seconds(), time.perf_counter()
    servers: list[Server] = []
    try:
        fake = start_fake(workdir)
        servers.append(fake)
        problem = _wait_ready(fake, "/health", 30)
        if problem is not None:
            raise SystemExit(f"the fake upstream did not start: {problem}")
        key = mmstack_key(workdir / "mmstack-data")  # before the server opens the database
        mmstack = start_mmstack(workdir, fake.port, args.profile_mmstack)
        servers.append(mmstack)
        litellm = start_litellm(workdir, litellm_exe, fake.port) if litellm_exe else None
        if litellm is not None:
            servers.append(litellm)
        started = time.perf_counter()
        targets = [Target("direct", fake.port, None)]
        problem = _wait_ready(mmstack, "/readyz", 180)
        targets.append(Target("mmstack", mmstack.port, mmstack.process.pid, problem, key))
        if litellm is not None:
            problem = _wait_ready(litellm, "/health/liveliness", 180)
            if problem is None:
                ready = time.perf_counter() - started
                litellm_note += f"; started in {ready:.0f} s"
                print(f"LiteLLM ready {ready:.0f} s after start", flush=True)
            targets.append(Target("LiteLLM", litellm.port, litellm.process.pid, problem))
        else:
            targets.append(Target("LiteLLM", 0, None, f"LiteLLM {version}: {litellm_note}"))
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            results = runner.run(measure(targets, fake.process.pid, opts))
    finally:
        for server in reversed(servers):
            _stop(server)
        shutil.rmtree(workdir, ignore_errors=True)
    wall = time.perf_counter() - wall_start
    busy = (machine_busy_seconds() - busy_start) / wall
    load_end = Path("/proc/loadavg").read_text().split()[:3]
    cores = os.cpu_count() or 1

    print()
    print_table(COLUMNS, table(targets, results, opts))
    print()
    for line in notes(results, opts.modes, cores):
        print(line)
    print(
        f"machine: {cores} cores, {busy:.2f} busy on average over the run (all processes); "
        f"load average {' '.join(load_start)} at start, {' '.join(load_end)} at end. "
        f"LiteLLM {version}: {litellm_note}."
    )
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": asdict(opts),
        "litellm": {"version": version, "note": litellm_note},
        "machine": {"cores": cores, "busy_cores": busy, "load": [load_start, load_end]},
        "results": {
            f"{name}/{mode}": {
                "failed": m.failed,
                "p50_ms": percentile(m.latencies, 50) if m.latencies else None,
                "p99_ms": percentile(m.latencies, 99) if m.latencies else None,
                "levels": [{**asdict(level), "rate": level.rate} for level in m.levels],
            }
            for (name, mode), m in results.items()
        },
    }
    (RESULTS / "gateway.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
