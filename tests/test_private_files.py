import stat
import threading
from pathlib import Path

from mmstack.private_files import create_private_once


def test_the_first_writer_wins_and_every_racer_reads_its_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "key"
    barrier = threading.Barrier(8)
    held: list[bytes] = []

    def racer(n: int) -> None:
        barrier.wait()
        held.append(create_private_once(path, bytes([n]) * 4096))

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(held) == 8
    assert len(set(held)) == 1
    assert held[0] == path.read_bytes()
    assert len(held[0]) == 4096
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["key"]


def test_an_existing_file_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"first")
    assert create_private_once(path, b"second") == b"first"
    assert path.read_bytes() == b"first"
