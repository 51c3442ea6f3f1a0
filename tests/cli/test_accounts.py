"""`mmstack users ...` and `mmstack keys ...` through typer's runner, on a real data
directory; what they print is then used the way a person would use it: the password to log
in, the key to authenticate."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mmstack.auth.roles import Permission, Role
from mmstack.auth.service import Auth, open_accounts
from mmstack.cli.main import app
from mmstack.config.settings import Settings
from mmstack.errors import AuthenticationError

PASSWORD = re.compile(r"password \(shown only now\): (\S+)\n")
KEY = re.compile(r"key \(shown only now\): (mmk_\S+)\n")
ADMIN_PASSWORD = re.compile(r"admin account admin created, password: (\S+)  \(shown only now")

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def cli(data_dir: Path, *args: str) -> Result:
    result = runner.invoke(app, ["--data-dir", str(data_dir), *args])
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result


def cli_json(data_dir: Path, *args: str) -> Any:
    return json.loads(cli(data_dir, *args, "--json").stdout)


def cli_fails(data_dir: Path, *args: str) -> str:
    """The error a refused command gives: non-zero, a message, no traceback."""
    result = runner.invoke(app, ["--data-dir", str(data_dir), *args])
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an exception
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return " ".join(result.stderr.split())  # rich wraps the message at 80 columns


@contextmanager
def accounts(data_dir: Path) -> Iterator[Auth]:
    """The accounts the server would open on the same data directory."""
    with open_accounts(Settings(data_dir=data_dir)) as auth:
        yield auth


def log_in(data_dir: Path, username: str, password: str) -> Any:
    """Log in as the server does, and return whom its access token then speaks for."""
    with accounts(data_dir) as auth:
        pair = auth.logins.login(username, password, address=None)
        return auth.authenticate(f"Bearer {pair.access_token}")


def test_users_create_prints_a_one_time_password_that_logs_in(data_dir: Path) -> None:
    out = cli(data_dir, "users", "create", "alice", "--role", "developer").stdout
    assert "created developer alice" in out
    password = PASSWORD.search(out)
    assert password is not None, out
    principal = log_in(data_dir, "alice", password.group(1))
    assert (principal.username, principal.role) == ("alice", Role.DEVELOPER)
    with pytest.raises(AuthenticationError):
        log_in(data_dir, "alice", password.group(1) + "x")
    # Shown once: nothing else prints it.
    listed = cli(data_dir, "users", "list").stdout
    assert "alice" in listed
    assert password.group(1) not in listed


def test_json_output_parses(data_dir: Path) -> None:
    created = cli_json(data_dir, "users", "create", "Bob@Example.org", "--role", "operator")
    assert created["username"] == "bob@example.org"  # usernames are lower-cased
    assert created["role"] == "operator"
    assert created["disabled"] is False
    assert log_in(data_dir, "bob@example.org", created["password"]).role == Role.OPERATOR
    listed = cli_json(data_dir, "users", "list")
    assert {u["username"]: u["role"] for u in listed} == {
        "admin": "admin",
        "bob@example.org": "operator",
    }
    assert all("password" not in u for u in listed)
    assert [u["username"] for u in cli_json(data_dir, "users", "list", "--team", "nope")] == []


def test_set_role_changes_the_role(data_dir: Path) -> None:
    password = cli_json(data_dir, "users", "create", "carol")["password"]
    assert log_in(data_dir, "carol", password).role == Role.VIEWER  # the default role
    changed = cli_json(data_dir, "users", "set-role", "carol", "admin")
    assert changed["role"] == "admin"
    principal = log_in(data_dir, "carol", password)
    assert principal.role == Role.ADMIN
    assert principal.can(Permission.ADMIN)
    assert "carol is now operator" in cli(data_dir, "users", "set-role", "carol", "operator").stdout
    listed = {u["username"]: u["role"] for u in cli_json(data_dir, "users", "list")}
    assert listed["carol"] == "operator"


def test_disable_ends_logins_and_keys_and_enable_restores_them(data_dir: Path) -> None:
    password = cli_json(data_dir, "users", "create", "dave", "--role", "developer")["password"]
    key = cli_json(data_dir, "keys", "create", "--user", "dave", "--name", "ci")["key"]
    log_in(data_dir, "dave", password)

    assert "dave is disabled" in cli(data_dir, "users", "disable", "dave").stdout
    with pytest.raises(AuthenticationError, match="disabled"):
        log_in(data_dir, "dave", password)
    with accounts(data_dir) as auth, pytest.raises(AuthenticationError, match="disabled"):
        auth.keys.authenticate(key)
    assert cli_json(data_dir, "users", "list")[-1]["disabled"] is True

    assert cli_json(data_dir, "users", "disable", "dave", "--enable")["disabled"] is False
    assert log_in(data_dir, "dave", password).username == "dave"
    with accounts(data_dir) as auth:
        assert auth.keys.authenticate(key).username == "dave"


def test_keys_create_prints_a_key_that_authenticates_until_revoked(data_dir: Path) -> None:
    user_id = cli_json(data_dir, "users", "create", "erin", "--role", "developer")["id"]
    out = cli(data_dir, "keys", "create", "--user", "erin", "--name", "laptop").stdout
    found = KEY.search(out)
    assert found is not None, out
    key = found.group(1)
    with accounts(data_dir) as auth:
        principal = auth.authenticate(f"Bearer {key}")
    assert principal.user_id == user_id
    assert principal.can(Permission.WRITE)
    assert principal.endpoints is None
    assert principal.collection_ids is None

    listed = cli_json(data_dir, "keys", "list")
    assert [(k["name"], k["user_id"], k["access"]) for k in listed] == [
        ("laptop", user_id, "write")
    ]
    assert key not in json.dumps(listed)  # never the key itself
    assert listed[0]["revoked_at"] is None
    assert key.startswith(listed[0]["prefix"] + "_")

    # The prefix the list shows is what revoke takes.
    assert "revoked key" in cli(data_dir, "keys", "revoke", listed[0]["prefix"]).stdout
    with accounts(data_dir) as auth, pytest.raises(AuthenticationError, match="revoked"):
        auth.authenticate(f"Bearer {key}")
    assert cli_json(data_dir, "keys", "list")[0]["revoked_at"] is not None
    assert "revoked" in cli(data_dir, "keys", "list").stdout


def test_key_scopes_show_in_the_list_and_bind_the_key(data_dir: Path) -> None:
    user_id = cli_json(data_dir, "users", "create", "frank", "--role", "developer")["id"]
    collection = cli_json(data_dir, "collections", "create", "handbooks")["id"]
    created = cli_json(
        data_dir,
        "keys",
        "create",
        "--user",
        "frank",
        "--name",
        "search bot",
        "--read-only",
        "--endpoint",
        "search",
        "--endpoint",
        "models",
        "--collection",
        collection,
        "--expires-in-days",
        "7",
    )
    cli_json(data_dir, "keys", "create", "--user", "admin", "--name", "admin's")
    listed = cli_json(data_dir, "keys", "list", "--user", user_id)
    assert len(listed) == 1
    scoped = listed[0]
    assert scoped["id"] == created["id"]
    assert scoped["access"] == "read"
    assert scoped["endpoints"] == ["models", "search"]
    assert scoped["collections"] == [collection]
    assert scoped["expires_at"] is not None
    assert len(cli_json(data_dir, "keys", "list")) == 2

    with accounts(data_dir) as auth:
        principal = auth.keys.authenticate(created["key"])
    assert not principal.can(Permission.WRITE)
    assert principal.can(Permission.READ)
    assert principal.endpoints == frozenset({"models", "search"})
    assert principal.collection_ids == frozenset({collection})

    cli_json(data_dir, "keys", "revoke", created["id"])
    with accounts(data_dir) as auth, pytest.raises(AuthenticationError, match="revoked"):
        auth.keys.authenticate(created["key"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "set-role", "nobody", "admin"), "user 'nobody' not found"),
        (("users", "disable", "nobody"), "user 'nobody' not found"),
        (("keys", "create", "--user", "nobody", "--name", "x"), "user 'nobody' not found"),
        (("keys", "revoke", "mmk_0123456789ab"), "API key '0123456789ab' not found"),
        (("users", "create", "gina", "--role", "wizard"), "'wizard' is not one of 'admin'"),
        (("users", "set-role", "admin", "wizard"), "'wizard' is not one of 'admin'"),
        (("users", "create", "Bad Name!"), "username must be 1 to 128 of a-z"),
        (("users", "create", ""), "username must be 1 to 128 of a-z"),
        (("users", "create", "-x"), "No such option"),
        (("users", "create", "admin"), "user 'admin' already exists"),
        (("users", "create", "ADMIN"), "user 'admin' already exists"),
        (("users", "create", "gina", "--team", "nowhere"), "team 'nowhere' not found"),
        (("users", "disable", "admin"), "this is the last active admin"),
        (("users", "set-role", "admin", "viewer"), "this is the last active admin"),
        (("keys", "create", "--user", "admin", "--name", " "), "name must be 1 to 128"),
        (
            ("keys", "create", "--user", "admin", "--name", "x", "--endpoint", "everything"),
            "Invalid value for '--endpoint'",
        ),
        (
            ("keys", "create", "--user", "admin", "--name", "x", "--collection", "col_nope"),
            "collection 'col_nope' not found",
        ),
    ],
)
def test_bad_input_is_refused_clearly(data_dir: Path, args: tuple[str, ...], message: str) -> None:
    cli(data_dir, "users", "list")  # the first admin exists
    error = cli_fails(data_dir, *args)
    assert message in error, error
    listed = cli_json(data_dir, "users", "list")
    assert [(u["username"], u["role"], u["disabled"]) for u in listed] == [
        ("admin", "admin", False)
    ]
    assert cli_json(data_dir, "keys", "list") == []


def test_a_viewer_cannot_get_a_key_that_writes(data_dir: Path) -> None:
    cli(data_dir, "users", "create", "hank")
    error = cli_fails(data_dir, "keys", "create", "--user", "hank", "--name", "x")
    assert "a viewer cannot have a key with write access" in error
    created = cli_json(data_dir, "keys", "create", "--user", "hank", "--name", "x", "--read-only")
    assert created["access"] == "read"


def test_the_first_admin_password_is_given_once(data_dir: Path) -> None:
    """`mmstack up` prints `open_accounts(...).first_admin` before it serves: the first
    opening of a data directory makes the admin and returns its password, later ones none."""
    with accounts(data_dir) as auth:
        first = auth.first_admin
    assert first is not None
    assert (first.username, first.source) == ("admin", "generated")
    assert first.password is not None
    assert len(first.password) >= 20
    with accounts(data_dir) as auth:
        assert auth.first_admin is None
    principal = log_in(data_dir, "admin", first.password)
    assert principal.role == Role.ADMIN
    assert cli_json(data_dir, "users", "list")[0]["username"] == "admin"


def test_a_first_cli_command_shows_the_admin_password_once(data_dir: Path) -> None:
    """Made by `mmstack users ...` before any `mmstack up`, the admin's password is shown
    by that command (on stderr: the JSON on stdout still parses), and never again."""
    first = cli(data_dir, "users", "create", "ivy", "--json")
    assert json.loads(first.stdout)["username"] == "ivy"
    found = ADMIN_PASSWORD.search(first.stderr)
    assert found is not None, first.stderr
    assert log_in(data_dir, "admin", found.group(1)).role == Role.ADMIN
    again = cli(data_dir, "users", "list")
    assert "password" not in again.stderr + again.stdout
    with accounts(data_dir) as auth:
        assert auth.first_admin is None
