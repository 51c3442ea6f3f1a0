"""`mmstack memories` as a user runs it: real processes, acting for the user of the API
key they are given, and for no one else."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from mmstack.auth.audit import Actor
from mmstack.auth.roles import Role
from mmstack.config.settings import IngestSettings, Settings
from mmstack.stack import open_stack
from tests.cli.test_cli import _run


def _keys(data: Path) -> dict[str, str]:
    keys = {}
    with open_stack(Settings(data_dir=data, ingest=IngestSettings(workers=0))) as stack:
        for name in ("ana", "ben"):
            stack.auth.accounts.create_user(name, role=Role.DEVELOPER, actor=Actor.local())
            _, keys[name] = stack.auth.keys.create(name, name="k", actor=Actor.local())
    return keys


def _memories(
    data: Path, key: str | None, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {"MMSTACK_API_KEY": key} if key is not None else None
    return _run(data, "memories", *args, check=check, env=env)


def test_a_person_keeps_their_memories_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    keys = _keys(data)
    ana = keys["ana"]
    _memories(data, ana, "add", "I live in Lyon.")
    _memories(data, ana, "add", "Answers in French, please.", "--kind", "preference")
    listed = json.loads(_memories(data, ana, "list", "--json").stdout)
    assert [m["text"] for m in listed] == ["Answers in French, please.", "I live in Lyon."]
    lyon = next(m["id"] for m in listed if "Lyon" in m["text"])
    assert "replaces" in _memories(data, ana, "change", lyon, "I live in Porto.").stdout
    found = json.loads(_memories(data, ana, "list", "--search", "porto", "--json").stdout)
    assert [m["text"] for m in found] == ["I live in Porto."]

    # Ben sees none of Ana's, and cannot touch them.
    assert json.loads(_memories(data, keys["ben"], "list", "--json").stdout) == []
    theirs = _memories(data, keys["ben"], "delete", found[0]["id"], check=False)
    assert theirs.returncode == 1
    assert "not found" in theirs.stderr

    out = tmp_path / "mine.json"
    _memories(data, ana, "export", "--out", str(out))
    exported = json.loads(out.read_text())
    assert [m["text"] for m in exported["memories"]] == [
        "I live in Lyon.",
        "Answers in French, please.",
        "I live in Porto.",
    ]
    _memories(data, ana, "off")
    assert json.loads(_memories(data, ana, "export").stdout)["enabled"] is False
    assert "deleted 3 memories" in _memories(data, ana, "delete", "--yes").stdout

    no_key = _memories(data, None, "list", check=False)
    assert no_key.returncode == 1
    assert "an API key is needed" in no_key.stderr
    wrong = _memories(data, "mmk_nope_nope", "list", check=False)
    assert wrong.returncode == 1
