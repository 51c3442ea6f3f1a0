"""Administration: users, teams, the audit log. Admins only."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from mmstack.api.account_schemas import (
    AuditEventOut,
    PasswordReset,
    TeamCreate,
    TeamOut,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)
from mmstack.api.deps import ActorDep, AuthDep, authorize
from mmstack.api.schemas import MAX_JSON_INT, ListOut
from mmstack.auth.accounts import generated_password
from mmstack.auth.audit import AuditQuery, Result
from mmstack.auth.roles import Permission
from mmstack.store.models import DEFAULT_TEAM_ID, MAX_ROW_ID

router = APIRouter(
    prefix="/api", tags=["admin"], dependencies=[Depends(authorize(None, Permission.ADMIN))]
)


@router.get("/users")
def list_users(
    auth: AuthDep,
    team: Annotated[str | None, Query(description="A team id")] = None,
) -> ListOut[UserOut]:
    users = auth.accounts.list_users(team=team)
    return ListOut(data=[UserOut.of(u) for u in users])


@router.post("/users", status_code=201)
def create_user(auth: AuthDep, body: UserCreate, actor: ActorDep) -> UserCreated:
    """A new user; without a password one is generated and returned once."""
    user, password = auth.accounts.create_user(
        body.username,
        role=body.role,
        actor=actor,
        team=body.team or DEFAULT_TEAM_ID,
        password=body.password,
    )
    return UserCreated(**UserOut.of(user).model_dump(), password=password)


@router.get("/users/{user}")
def get_user(auth: AuthDep, user: str) -> UserOut:
    """A user by id or username."""
    return UserOut.of(auth.accounts.get_user(user))


@router.patch("/users/{user}")
def update_user(auth: AuthDep, user: str, body: UserUpdate, actor: ActorDep) -> UserOut:
    """Change a user's role, disable or enable them (disabling ends every login and stops
    their keys), or set their quotas."""
    accounts = auth.accounts
    found = accounts.get_user(user)
    if body.role is not None and body.role != found.role:
        found = accounts.set_role(found.id, body.role, actor=actor)
    if body.disabled is not None and body.disabled != found.disabled:
        found = accounts.set_disabled(found.id, body.disabled, actor=actor)
    if body.quotas is not None:
        found = accounts.set_quotas(found.id, body.quotas.as_dict(), actor=actor)
    return UserOut.of(found)


@router.post("/users/{user}/password")
def reset_password(auth: AuthDep, user: str, body: PasswordReset, actor: ActorDep) -> UserCreated:
    """Set a user's password (generated when none is given, returned once); every login
    of the user ends."""
    accounts = auth.accounts
    password = body.password or generated_password()
    accounts.set_password(user, password, actor=actor)
    shown = None if body.password else password
    return UserCreated(**UserOut.of(accounts.get_user(user)).model_dump(), password=shown)


@router.post("/users/{user}/mfa/reset")
def reset_mfa(auth: AuthDep, user: str, actor: ActorDep) -> UserOut:
    """Turn a user's two-factor authentication off (they lost their authenticator and
    recovery codes); every login of the user ends, and they may enrol again."""
    found = auth.accounts.get_user(user)
    auth.mfa.reset(found.id, actor=actor)
    return UserOut.of(auth.accounts.get_user(found.id))


@router.get("/teams")
def list_teams(auth: AuthDep) -> ListOut[TeamOut]:
    return ListOut(data=[TeamOut.of(t) for t in auth.accounts.list_teams()])


@router.post("/teams", status_code=201)
def create_team(auth: AuthDep, body: TeamCreate, actor: ActorDep) -> TeamOut:
    return TeamOut.of(auth.accounts.create_team(body.name, actor=actor))


def _audit_query(
    action: Annotated[str | None, Query(description="An action, or a prefix ending in '.'")] = None,
    actor_id: Annotated[str | None, Query()] = None,
    result: Annotated[Result | None, Query()] = None,
    since: Annotated[float | None, Query(description="Unix seconds, inclusive")] = None,
    until: Annotated[float | None, Query(description="Unix seconds, exclusive")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_JSON_INT, description="Events after this id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditQuery:
    # Past the largest row id there is nothing after (and nothing the database can compare).
    after = min(after, MAX_ROW_ID) if after is not None else None
    return AuditQuery(action, actor_id, result, since, until, after, limit)


AuditQueryDep = Annotated[AuditQuery, Depends(_audit_query)]


@router.get("/audit")
def list_audit_events(auth: AuthDep, query: AuditQueryDep) -> ListOut[AuditEventOut]:
    """Audit events in the order they happened; page with `after` (the last id seen)."""
    events = auth.audit.query(query)
    return ListOut(data=[AuditEventOut.of(e) for e in events])


@router.get("/audit/export", response_class=StreamingResponse)
def export_audit_events(auth: AuthDep, query: AuditQueryDep) -> StreamingResponse:
    """Every matching event as JSON lines."""
    lines: Iterator[str] = auth.audit.export(query)
    # The first batch is read now: a query the database refuses is an error response, not
    # a stream cut off after its 200.
    first = next(lines, None)
    return StreamingResponse(
        itertools.chain([first] if first is not None else [], lines),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="mmstack-audit.jsonl"'},
    )
