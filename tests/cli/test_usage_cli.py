"""`mmstack usage`: the usage summary as a table or JSON, and clear errors for bad days and
dimensions."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mmstack.auth.audit import Actor
from mmstack.auth.roles import Role
from mmstack.cli.main import app
from mmstack.config.settings import Settings
from mmstack.stack import open_stack

runner = CliRunner()


def _recorded(data: Path) -> None:
    with open_stack(Settings(data_dir=data)) as stack:
        auth = stack.auth
        auth.accounts.create_user("carol", role=Role.DEVELOPER, actor=Actor.local())
        _, key = auth.keys.create("carol", name="k", actor=Actor.local())
        carol = auth.keys.authenticate(key)
        for seconds in (0.3, 0.4, 6.0):
            auth.quotas.record(
                carol, model="qwen", prompt_tokens=100, completion_tokens=20, seconds=seconds
            )
        auth.quotas.record(carol, upload_bytes=2048)


def test_usage_table_and_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _recorded(data)
    table = runner.invoke(app, ["--data-dir", str(data), "usage", "--by", "user,model"])
    assert table.exit_code == 0, table.output
    assert "carol" in table.output
    assert "qwen" in table.output
    assert "p95 s" in table.output

    out = runner.invoke(app, ["--data-dir", str(data), "usage", "--by", "model", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["model"]: r for r in json.loads(out.output)}
    assert rows["qwen"]["requests"] == 3
    assert rows["qwen"]["prompt_tokens"] == 300
    assert 0.25 < rows["qwen"]["latency_p50"] <= 0.5
    assert rows["-"]["upload_bytes"] == 2048
    assert rows["-"]["latency_p50"] is None

    [total] = json.loads(
        runner.invoke(app, ["--data-dir", str(data), "usage", "--by", "", "--json"]).output
    )
    assert total["requests"] == 4


def test_bad_days_and_dimensions_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for args, message in [
        (["--since", "yesterday"], "--since takes a day as YYYY-MM-DD"),
        (["--since", "2026-12-09", "--until", "2026-12-01"], "is after --until"),
        (["--by", "user,weather"], "--by takes day, user, key, team, model"),
    ]:
        result = runner.invoke(app, ["--data-dir", str(data), "usage", *args])
        assert result.exit_code == 1
        assert message in result.output


def test_usage_and_stats_run_beside_a_serving_stack(tmp_path: Path) -> None:
    """A running server holds the data directory's lock; these commands read the database
    alone, so they answer anyway (a command that opens the whole stack cannot)."""
    data = tmp_path / "data"
    _recorded(data)
    with open_stack(Settings(data_dir=data)):
        locked = runner.invoke(app, ["--data-dir", str(data), "retention", "status"])
        assert locked.exit_code == 1
        assert "in use" in locked.output
        used = runner.invoke(app, ["--data-dir", str(data), "usage", "--by", "model", "--json"])
        assert used.exit_code == 0, used.output
        assert {r["model"]: r["requests"] for r in json.loads(used.output)}["qwen"] == 3
        stats = runner.invoke(app, ["--data-dir", str(data), "stats", "--json"])
        assert stats.exit_code == 0, stats.output
        assert json.loads(stats.output)["top_queries"] == []
