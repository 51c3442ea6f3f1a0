"""`mmstack agents` as a user runs it: real processes on one data directory."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import _run

WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


def test_agents_are_created_listed_changed_and_deleted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([WEATHER]))
    instructions = tmp_path / "instructions.md"
    instructions.write_text("Answer in one sentence.\nCite the forecast.")

    made = json.loads(
        _run(
            data,
            "agents",
            "create",
            "forecaster",
            "--description",
            "Tells the weather",
            "--instructions-file",
            str(instructions),
            "--tools-file",
            str(tools),
            "--json",
        ).stdout
    )
    assert (made["name"], made["model_name"], made["tools"]) == (
        "forecaster",
        "agent/forecaster",
        [WEATHER],
    )
    assert made["instructions"] == "Answer in one sentence.\nCite the forecast."
    listed = _run(data, "agents", "list").stdout
    assert "forecaster" in listed
    assert "function:get_weather" in listed
    assert json.loads(_run(data, "agents", "show", made["id"]).stdout)["name"] == "forecaster"

    updated = json.loads(
        _run(data, "agents", "update", "forecaster", "--name", "weatherman", "--json").stdout
    )
    assert (updated["id"], updated["name"], updated["tools"]) == (made["id"], "weatherman", [])
    _run(data, "agents", "delete", "weatherman", "--yes")
    assert json.loads(_run(data, "agents", "list", "--json").stdout) == []


def test_bad_agents_give_clear_errors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    not_json = tmp_path / "broken.json"
    not_json.write_text("[{")
    web = tmp_path / "web.json"
    web.write_text(json.dumps([{"type": "web_search"}]))
    _run(data, "agents", "create", "taken")
    for args, message in [
        (("create", "a", "--tools-file", str(not_json)), "not JSON"),
        (("create", "a", "--tools-file", str(web)), "tool type 'web_search' is not supported"),
        (("create", "taken"), "an agent named 'taken' exists already"),
        (("create", "has space"), "agent name 'has space'"),
        (("show", "nobody"), "agent 'nobody' not found"),
        (("delete", "nobody", "--yes"), "agent 'nobody' not found"),
    ]:
        result = _run(data, "agents", *args, check=False)
        assert result.returncode == 1, args
        assert message in " ".join(result.stderr.split()), (args, result.stderr)
    assert [a["name"] for a in json.loads(_run(data, "agents", "list", "--json").stdout)] == [
        "taken"
    ]
