"""Queries about stored agents: finding one by id or name within its team, and a team's
agents by name."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mmstack.errors import NotFoundError
from mmstack.store.models import Agent
from mmstack.store.ownership import Owner


def find_agent(session: Session, ref: str, *, owner: Owner | None, param: str = "agent") -> Agent:
    """The agent whose id or name is `ref`, if `owner`'s team holds it; NotFoundError
    otherwise (another team's agent is not there at all)."""
    query = select(Agent).where(or_(Agent.id == ref, Agent.name == ref))
    if owner is not None:
        query = query.where(Agent.team_id == owner.team_id)
    found = session.scalars(query.order_by(Agent.id)).first()
    if found is None:
        raise NotFoundError(f"agent '{ref}' not found", param=param)
    return found


def name_taken(session: Session, team_id: str, name: str, *, besides: str | None = None) -> bool:
    query = select(Agent.id).where(Agent.team_id == team_id, Agent.name == name)
    if besides is not None:
        query = query.where(Agent.id != besides)
    return session.scalar(query) is not None


def team_agents(session: Session, owner: Owner | None) -> list[Agent]:
    query = select(Agent).order_by(Agent.name)
    if owner is not None:
        query = query.where(Agent.team_id == owner.team_id)
    return list(session.scalars(query))
