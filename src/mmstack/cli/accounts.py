"""`mmstack users ...` and `mmstack keys ...`: accounts and API keys, on the database the
server uses (they work while it runs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mmstack.auth.roles import EndpointGroup, Role
from mmstack.cli.options import JsonOpt, cli_settings
from mmstack.cli.output import console, err_console, fail, print_json, print_table
from mmstack.config.logging import configure_logging
from mmstack.errors import MMStackError

if TYPE_CHECKING:
    from mmstack.auth.accounts import FirstAdmin
    from mmstack.auth.audit import Actor
    from mmstack.auth.service import Auth
    from mmstack.store.models import ApiKey, User

users_app = typer.Typer(help="Create, list, change and disable users.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _local() -> Actor:
    """The actor of a command run here (audited as the local operator)."""
    from mmstack.auth.audit import Actor

    return Actor.local()


def _key_dict(key: ApiKey) -> dict[str, Any]:
    from mmstack.auth.api_keys import key_dict

    return key_dict(key)


@contextmanager
def _auth() -> Iterator[Auth]:
    from mmstack.auth.service import open_accounts

    configure_logging("WARNING", "console")
    try:
        with open_accounts(cli_settings()) as auth:
            _show_first_admin(auth.first_admin)
            yield auth
    except MMStackError as exc:
        fail(exc.message)


def _show_first_admin(first: FirstAdmin | None) -> None:
    """On a new data directory the first command to open the accounts makes the admin
    (`mmstack up` or one of these): its generated password is shown then, once. On stderr,
    so that `--json` output stays parseable."""
    if first is None:
        return
    shown = (
        f"password: {first.password}  (shown only now; change it after logging in)"
        if first.password
        else f"password: the one from {first.source}"
    )
    err_console.print(
        f"first run: admin account {first.username} created, {shown}",
        highlight=False,
        soft_wrap=True,
    )


def _user_dict(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "team_id": user.team_id,
        "role": user.role,
        "disabled": user.disabled,
        "mfa_enabled": user.totp_enabled,
        "created_at": user.created_at,
    }


@users_app.command("create")
def users_create(
    username: str,
    role: Annotated[Role, typer.Option(help="admin, developer, operator or viewer")] = Role.VIEWER,
    team: Annotated[str | None, typer.Option(help="Team id or name [the default team]")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a user with a generated password, shown once."""
    with _auth() as auth:
        from mmstack.store.models import DEFAULT_TEAM_ID

        user, password = auth.accounts.create_user(
            username, role=role, team=team or DEFAULT_TEAM_ID, actor=_local()
        )
    if json_out:
        print_json({**_user_dict(user), "password": password})
        return
    console.print(
        f"created {user.role} [bold]{user.username}[/bold] ({user.id})\n"
        f"password (shown only now): {password}",
        highlight=False,
        soft_wrap=True,  # never break a secret across lines (80 columns when piped)
    )


@users_app.command("list")
def users_list(
    team: Annotated[str | None, typer.Option(help="Only this team (id)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List users."""
    with _auth() as auth:
        users = auth.accounts.list_users(team=team)
    if json_out:
        print_json([_user_dict(u) for u in users])
        return
    rows = [
        (
            u.id,
            u.username,
            u.team_id,
            u.role,
            "yes" if u.disabled else "",
            "on" if u.totp_enabled else "",
        )
        for u in users
    ]
    print_table("users", ("id", "username", "team", "role", "disabled", "mfa"), rows)


@users_app.command("set-role")
def users_set_role(user: str, role: Role, json_out: JsonOpt = False) -> None:
    """Change a user's role (by id or username)."""
    with _auth() as auth:
        changed = auth.accounts.set_role(user, role, actor=_local())
    if json_out:
        print_json(_user_dict(changed))
    else:
        console.print(f"{changed.username} is now {changed.role}")


@users_app.command("disable")
def users_disable(
    user: str,
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Disable a user: every login ends and every key of theirs stops working."""
    with _auth() as auth:
        changed = auth.accounts.set_disabled(user, not enable, actor=_local())
    if json_out:
        print_json(_user_dict(changed))
    else:
        console.print(f"{changed.username} is {'disabled' if changed.disabled else 'enabled'}")


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option(help="The user (id or username) the key acts for")],
    name: Annotated[str, typer.Option(help="What the key is for")],
    read_only: Annotated[bool, typer.Option("--read-only", help="Only read and ask")] = False,
    endpoint: Annotated[
        list[EndpointGroup] | None, typer.Option(help="Limit to these endpoint groups")
    ] = None,
    collection: Annotated[
        list[str] | None, typer.Option(help="Limit to these collection ids")
    ] = None,
    expires_in_days: Annotated[int | None, typer.Option(min=1, max=3650)] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an API key; the key is printed once."""
    expires_at = int(time.time()) + expires_in_days * 86400 if expires_in_days else None
    with _auth() as auth:
        key, token = auth.keys.create(
            user,
            name=name,
            actor=_local(),
            access="read" if read_only else "write",
            endpoints=[e.value for e in endpoint] if endpoint else None,
            collections=collection or None,
            expires_at=expires_at,
        )
    if json_out:
        print_json({**_key_dict(key), "key": token})
        return
    console.print(
        f"created key {key.id} ({key.access}) for {key.user_id}\nkey (shown only now): {token}",
        highlight=False,
        soft_wrap=True,  # never break a secret across lines (80 columns when piped)
    )


@keys_app.command("list")
def keys_list(
    user: Annotated[str | None, typer.Option(help="Only this user's (id)")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List API keys (never the keys themselves)."""
    with _auth() as auth:
        keys = auth.keys.list(user_id=user)
    if json_out:
        print_json([_key_dict(k) for k in keys])
        return
    rows = [
        (
            f"mmk_{k.id}",
            k.name,
            k.user_id,
            k.access,
            ",".join(k.endpoints or ["all"]),
            "revoked"
            if k.revoked_at
            else "expired"
            if k.expires_at and k.expires_at <= time.time()
            else "active",
        )
        for k in keys
    ]
    print_table("API keys", ("prefix", "name", "user", "access", "endpoints", "state"), rows)


@keys_app.command("revoke")
def keys_revoke(key_id: str, json_out: JsonOpt = False) -> None:
    """Revoke a key (by id, or its printed prefix mmk_<id>): it stops working at once."""
    with _auth() as auth:
        key = auth.keys.revoke(key_id.removeprefix("mmk_"), actor=_local())
    if json_out:
        print_json(_key_dict(key))
    else:
        console.print(f"revoked key {key.id}")
