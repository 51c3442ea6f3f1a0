"""Backups (restic, `mmstack backup`) against plain copies of the same bytes, in one run.

A corpus of at least `--gigabytes` GiB is ingested through the real pipeline: `--files`
two-page PDFs of real text (scifact abstracts from ../shared/data, generated sentences
when that is missing), each with a large embedded image of seeded random noise stored
uncompressed, so that nearly every byte is incompressible and neither tool wins by
compressing. Ingestion is not measured. Then, each mmstack step followed at once by its
baselines on the same bytes (the data directory's blobs, database, vector index and
secrets; not the query model mmstack derives, nor the backup staging and cache):

1. first backup: `BackupService.create` into an empty repository, against `cp -a` of the
   data directory to a fresh folder and `tar -cf` of it;
2. one new ~1 MB PDF ingested, then a second backup, against a second full `cp -a` and
   `tar -cf` (a plain copy has no incremental mode) and `rsync -a` into the first copy
   (the incremental baseline: only files whose size or mtime changed are sent);
3. restore of the latest backup into a fresh data directory (`open_storage` and
   `BackupService.restore`), against `cp -a` of the copy back and `tar -xf`.

Bytes written: the disk space (allocated blocks) the repository grew by for a backup
(restic's own `data_added` is printed too), that of the copy, archive or restored folder
for the others; for rsync, the bytes of the files it sent. The vector index preallocates
sparse files: `cp -a` keeps them sparse, `tar -cf` and `rsync -a` write their zeros.
Every step starts after a `sync`, and the `sync` after it is timed apart (restic and
mmstack's blob store fsync what they write; cp and tar do not). The page cache cannot be
dropped without root: every step reads files that are in memory.

    PYTHONPATH=. .venv/bin/python -m bench.backup [--gigabytes 1.0] [--files 100]
        [--data-dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.common import DATA_ROOT, bench_stack, print_table

if TYPE_CHECKING:
    from mmstack.ops.backup.service import CreatedBackup
    from mmstack.stack import Stack

GIB = 1024**3
SEED = 19
PASSWORD = "bench backup repository password"  # a throwaway repository
# What a plain copy of the installation takes: everything mmstack's backup holds.
SKIPPED = {"models", "backup-staging", "backup-cache", ".lock"}
WORDS = (
    "the backup of a knowledge base keeps every document its users uploaded together with "
    "the chunks of text cut from them the vectors that place each chunk in a space of "
    "meaning and the database rows that tie them to their collections a restore must give "
    "back the same answers to the same questions"
).split()


@dataclass
class Step:
    seconds: float = 0.0
    written: int = 0  # bytes, as the step's row says
    sync: float = 0.0  # seconds of the sync after it


@dataclass
class ResticCalls:
    """Seconds spent in restic processes, by subcommand (the wrapper times every call)."""

    calls: list[tuple[str, float]] = field(default_factory=list)


# ---------------------------------------------------------------------------- the corpus


def texts() -> Iterator[str]:
    """Endless paragraphs of real text: scifact abstracts, else seeded sentences."""
    corpus = DATA_ROOT / "scifact" / "corpus.jsonl"
    if corpus.is_file():
        with corpus.open() as handle:
            abstracts = [json.loads(line)["text"] for line in handle]
        while True:
            yield from (a for a in abstracts if len(a) > 400)
    rng = np.random.default_rng(SEED)
    while True:
        yield " ".join(
            " ".join(rng.choice(WORDS, size=int(rng.integers(8, 20)))).capitalize() + "."
            for _ in range(12)
        )


def pdf_with_noise(pages: list[list[str]], noise: bytes, side: int) -> bytes:
    """A PDF whose pages hold `pages` (lines of text in Helvetica) and whose first page
    also shows a `side` x `side` RGB image of `noise`, stored without any filter."""

    def escaped(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    kids = " ".join(f"{5 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        f"<< /Type /XObject /Subtype /Image /Width {side} /Height {side} /ColorSpace "
        f"/DeviceRGB /BitsPerComponent 8 /Length {len(noise)} >>\nstream\n".encode()
        + noise
        + b"\nendstream",
    ]
    for number, lines in enumerate(pages):
        body = "BT /F1 10 Tf 50 800 Td 12 TL " + " ".join(f"({escaped(s)}) '" for s in lines)
        body += " ET\n" + ("q 300 0 0 300 150 40 cm /Im1 Do Q\n" if number == 0 else "")
        content = body.encode("latin-1", "replace")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font "
            b"<< /F1 3 0 R >> /XObject << /Im1 4 0 R >> >> /Contents %d 0 R >>" % (6 + 2 * number)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body_bytes in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body_bytes + b"\nendobj\n"
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % start
    return bytes(out)


def corpus_file(number: int, noise_bytes: int, paragraphs: Iterator[str]) -> bytes:
    """File `number` of the corpus: two pages of text, about `noise_bytes` of noise."""
    lines = textwrap.wrap(" ".join(next(paragraphs) for _ in range(4)), 100)
    side = max(8, math.ceil(math.sqrt(noise_bytes / 3)))
    noise = np.random.default_rng([SEED, number]).bytes(side * side * 3)
    return pdf_with_noise([lines[:62], lines[62:124] or ["(end)"]], noise, side)


def ingest(stack: Stack, collection_id: str, files: Iterator[tuple[str, bytes]]) -> int:
    """Add the files in batches of 8 and ingest them; the bytes added."""
    added = pending = 0
    for name, data in files:
        stack.intake.add_file(collection_id, name, data)
        added += len(data)
        pending += 1
        if pending == 8:
            stack.worker.run_until_idle()
            pending = 0
    stack.worker.run_until_idle()
    return added


# ---------------------------------------------------------------------------- measuring


def measure(action: Callable[[], object]) -> tuple[Step, Any]:
    os.sync()
    started = time.perf_counter()
    result = action()
    step = Step(seconds=time.perf_counter() - started)
    started = time.perf_counter()
    os.sync()
    step.sync = time.perf_counter() - started
    return step, result


def tree_bytes(path: Path, *, apparent: bool = False) -> int:
    """Bytes the files under `path` take on disk (allocated blocks; with `apparent`, their
    lengths), a hard link counted once. The vector index preallocates sparse files."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            stat = os.lstat(os.path.join(folder, name))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size if apparent else stat.st_blocks * 512
    return total


def run(*argv: str, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {done.stderr[-2000:]}")
    return done.stdout


def state_entries(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if p.name not in SKIPPED)


def cp_copy(source: Path, target: Path) -> Step:
    """`cp -a` of the installation's state into a fresh folder."""
    target.mkdir()
    entries = [str(source / name) for name in state_entries(source)]
    step, _ = measure(lambda: run("cp", "-a", *entries, str(target)))
    step.written = tree_bytes(target)
    return step


def tar_create(source: Path, archive: Path) -> Step:
    entries = state_entries(source)
    step, _ = measure(lambda: run("tar", "-cf", str(archive), *entries, cwd=source))
    step.written = archive.stat().st_size
    return step


def tar_extract(archive: Path, target: Path) -> Step:
    target.mkdir()
    step, _ = measure(lambda: run("tar", "-xf", str(archive), cwd=target))
    step.written = tree_bytes(target)
    return step


def rsync_into(source: Path, target: Path) -> Step:
    """`rsync -a --delete` into an earlier copy; bytes written: the files it sent whole
    (local copies are never sent as deltas)."""
    entries = [str(source / name) for name in state_entries(source)]
    step, out = measure(lambda: run("rsync", "-a", "--delete", "--stats", *entries, str(target)))
    sent = re.search(r"Total transferred file size: ([\d,]+)", out)
    step.written = int(sent.group(1).replace(",", "")) if sent else 0
    return step


def time_restic(calls: ResticCalls) -> None:
    """Record the seconds of every restic process mmstack runs."""
    from mmstack.ops.backup.restic import Restic

    original = Restic._run  # timed, not changed

    def timed(self: Restic, args: list[str], **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, args, **kwargs)
        finally:
            calls.calls.append((args[0], time.perf_counter() - started))

    Restic._run = timed  # type: ignore[method-assign]


# ---------------------------------------------------------------------------- the run


def human(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.2f} {unit}"
        count /= 1000
    return f"{count:,.2f} GB"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}" if baseline > 0 else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--gigabytes", type=float, default=1.0, help="corpus size, GiB")
    parser.add_argument("--files", type=int, default=100, help="files in the corpus")
    parser.add_argument(
        "--data-dir", type=Path, help="an empty work folder (default: a new one in /tmp)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    if shutil.which("restic") is None:
        sys.exit("restic is not installed (Debian: apt-get install restic)")
    if args.data_dir and args.data_dir.exists() and any(args.data_dir.iterdir()):
        sys.exit(f"{args.data_dir} is not empty (it is removed afterwards unless --keep)")
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="mmstack-bench-backup-", dir="/tmp"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        run_benchmark(root, args.gigabytes, args.files)
    finally:
        if args.keep:
            print(f"\nkept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def run_benchmark(root: Path, gigabytes: float, files: int) -> None:
    from mmstack.config.settings import BackupSettings, MediaSettings
    from mmstack.ops.backup.configured import backup_service
    from mmstack.stack.backups import open_storage

    data, repo = root / "data", root / "repo"
    backup = BackupSettings(repository=str(repo), password=PASSWORD)
    media = MediaSettings(ocr=False, speech_to_text=False)
    calls = ResticCalls()
    time_restic(calls)
    has_rsync = shutil.which("rsync") is not None
    rows: list[tuple[str, ...]] = []
    created: list[CreatedBackup] = []
    restic_seconds: list[tuple[str, list[tuple[str, float]], float]] = []  # step, calls, total

    with bench_stack(data, media=media, backup=backup) as stack:
        service = backup_service(stack.settings)
        paragraphs = texts()
        collection = stack.collections.create("corpus").collection.id
        per_file = int(gigabytes * GIB / files)
        started = time.perf_counter()
        corpus = ingest(
            stack,
            collection,
            ((f"scan-{n:04}.pdf", corpus_file(n, per_file, paragraphs)) for n in range(files)),
        )
        print(
            f"corpus: {files} PDFs, {human(corpus)} ({corpus / GIB:.3f} GiB), ingested in "
            f"{time.perf_counter() - started:.0f} s; the data directory takes "
            f"{human(tree_bytes(data))} on disk",
            flush=True,
        )

        def backup_step(label: str) -> Step:
            before, made = tree_bytes(repo) if repo.exists() else 0, len(calls.calls)
            step, result = measure(lambda: service.create(stack.storage))
            created.append(result)
            step.written = tree_bytes(repo) - before
            restic_seconds.append((label, calls.calls[made:], step.seconds))
            return step

        first = backup_step("first backup")
        cp1 = cp_copy(data, root / "copy-1")
        tar1 = tar_create(data, root / "copy-1.tar")
        (root / "copy-1.tar").unlink()
        rows += [
            row("first backup", "mmstack (restic)", first, cp1),
            row("first backup", "cp -a (baseline)", cp1, cp1),
            row("first backup", "tar -cf", tar1, cp1),
        ]
        rows.append(row("first backup", "mmstack / tar -cf", first, tar1, ratio_only=True))

        change = ingest(
            stack, collection, iter([("change.pdf", corpus_file(files, 1_000_000, paragraphs))])
        )
        second = backup_step("second backup")
        cp2 = cp_copy(data, root / "copy-2")  # kept: the restore baselines copy it back
        tar2 = tar_create(data, root / "copy-2.tar")
        rows += [
            row(f"second backup (+{human(change)})", "mmstack (restic)", second, cp2),
            row("second backup", "cp -a, full (baseline)", cp2, cp2),
            row("second backup", "tar -cf, full", tar2, cp2),
        ]
        if has_rsync:
            rsync = rsync_into(data, root / "copy-1")
            rows += [
                row("second backup", "rsync -a into copy 1", rsync, cp2),
                row("second backup", "mmstack / rsync -a", second, rsync, ratio_only=True),
            ]
        shutil.rmtree(root / "copy-1")
        settings = stack.settings

    restored_settings = settings.model_copy(update={"data_dir": root / "restored"})
    restored_service = backup_service(restored_settings)

    def restore() -> Any:
        with open_storage(restored_settings) as storage:
            return restored_service.restore("latest", storage, data_dir=restored_settings.data_dir)

    made = len(calls.calls)
    restored, report = measure(restore)
    restored.written = tree_bytes(root / "restored") - tree_bytes(
        root / "restored" / "backup-cache"
    )
    restic_seconds.append(("restore", calls.calls[made:], restored.seconds))
    cp_back = cp_copy(root / "copy-2", root / "restored-cp")
    shutil.rmtree(root / "restored-cp")
    shutil.rmtree(root / "copy-2")
    untar = tar_extract(root / "copy-2.tar", root / "restored-tar")
    rows += [
        row("restore", "mmstack (restic)", restored, cp_back),
        row("restore", "cp -a back (baseline)", cp_back, cp_back),
        row("restore", "tar -xf", untar, cp_back),
        row("restore", "mmstack / tar -xf", restored, untar, ratio_only=True),
    ]

    print()
    print_table(
        [
            "step",
            "tool",
            "seconds",
            "bytes written",
            "s / baseline",
            "bytes / baseline",
            "sync after, s",
        ],
        rows,
    )
    print()
    print_table(
        [
            "backup",
            "part",
            "files new / changed / unmodified",
            "bytes in the part",
            "restic data_added",
        ],
        [
            (
                label,
                part,
                f"{s.files_new} / {s.files_changed} / {s.files_unmodified}",
                human(s.bytes_processed),
                human(s.bytes_added),
            )
            for label, made_backup in zip(("first", "second"), created, strict=True)
            for part, s in made_backup.written.items()
        ],
    )
    print()
    print_table(
        ["step", "step seconds", "in restic processes", "share", "each restic process, s"],
        [
            (
                label,
                f"{total:.2f}",
                f"{sum(s for _, s in spent):.2f}",
                ratio(sum(s for _, s in spent), total),
                ", ".join(f"{name} {s:.2f}" for name, s in spent),
            )
            for label, spent, total in restic_seconds
        ],
    )
    blobs = created[-1].written["blobs"]
    print(
        f"\nsecond backup, blob files new/changed/unmodified: {blobs.files_new}/"
        f"{blobs.files_changed}/{blobs.files_unmodified}; restic data_added "
        f"{human(created[0].bytes_added)} then {human(created[1].bytes_added)}; restored "
        f"{report.blobs_stored} blobs and {report.vectors} vectors "
        f"(the backup held {len(created[-1].manifest.blobs)} and {created[-1].manifest.vectors})"
    )
    per_call = [s for name, s in calls.calls if name == "snapshots"]
    if per_call:
        print(f"restic snapshots (opens the repository, lists): {min(per_call):.2f} s at least")


def row(
    step: str, tool: str, measured: Step, baseline: Step, *, ratio_only: bool = False
) -> tuple[str, ...]:
    if ratio_only:
        return (
            step, tool, "", "", ratio(measured.seconds, baseline.seconds),
            ratio(measured.written, baseline.written), "",
        )  # fmt: skip
    return (
        step,
        tool,
        f"{measured.seconds:.2f}",
        human(measured.written),
        ratio(measured.seconds, baseline.seconds),
        ratio(measured.written, baseline.written),
        f"{measured.sync:.2f}",
    )


if __name__ == "__main__":
    main()
