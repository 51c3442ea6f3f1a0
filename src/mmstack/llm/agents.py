"""Stored agents: a name, instructions, a model, Responses API tools and vector stores,
kept by a team and called by name (the Responses API's model `agent/<name>`). What the
tools mean is checked by the API before they are kept; this service keeps them."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Final

from mmstack.errors import ConflictError, InvalidRequestError
from mmstack.store.agents import find_agent, name_taken, team_agents
from mmstack.store.db import Database
from mmstack.store.models import DEFAULT_TEAM_ID, Agent
from mmstack.store.ownership import OwnerScoped

# The Responses API's model name that calls an agent: `agent/<name>`.
AGENT_MODEL_PREFIX: Final = "agent/"
AGENT_NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def check_name(name: str) -> None:
    if re.fullmatch(AGENT_NAME, name) is None:
        raise InvalidRequestError(
            f"agent name '{name}': 1 to 64 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit (it is called as the model agent/<name>)",
            param="name",
        )


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """What an agent is made of (all but its name)."""

    description: str = ""
    instructions: str = ""
    model: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    vector_store_ids: list[str] = field(default_factory=list)
    memory: bool = False  # the caller's memories recalled and noted (the memory tool)


@dataclass(frozen=True, slots=True)
class AgentInfo:
    id: str
    name: str
    spec: AgentSpec
    created_at: int
    updated_at: int

    @classmethod
    def of(cls, row: Agent) -> AgentInfo:
        spec = AgentSpec(
            row.description,
            row.instructions,
            row.model,
            list(row.tools),
            list(row.vector_store_ids),
            row.memory,
        )
        return cls(row.id, row.name, spec, row.created_at, row.updated_at)


class AgentService(OwnerScoped):
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def _team_id(self) -> str:
        return self._owner.team_id if self._owner else DEFAULT_TEAM_ID

    def create(self, name: str, spec: AgentSpec) -> AgentInfo:
        check_name(name)
        with self._db.session(write=True) as session:
            if name_taken(session, self._team_id, name):
                raise ConflictError(f"an agent named '{name}' exists already", param="name")
            row = Agent(team_id=self._team_id, name=name)
            _apply(row, spec)
            session.add(row)
            session.flush()
            return AgentInfo.of(row)

    def list(self) -> list[AgentInfo]:
        with self._db.session() as session:
            return [AgentInfo.of(row) for row in team_agents(session, self._owner)]

    def get(self, ref: str, *, param: str = "agent") -> AgentInfo:
        """By id or name."""
        with self._db.session() as session:
            return AgentInfo.of(find_agent(session, ref, owner=self._owner, param=param))

    def update(self, ref: str, *, name: str | None = None, spec: AgentSpec) -> AgentInfo:
        """Rename (when `name` is given) and replace what the agent is made of."""
        with self._db.session(write=True) as session:
            row = find_agent(session, ref, owner=self._owner)
            if name is not None and name != row.name:
                check_name(name)
                if name_taken(session, row.team_id, name, besides=row.id):
                    raise ConflictError(f"an agent named '{name}' exists already", param="name")
                row.name = name
            _apply(row, spec)
            row.updated_at = int(time.time())
            session.flush()
            return AgentInfo.of(row)

    def delete(self, ref: str) -> str:
        """The deleted agent's id."""
        with self._db.session(write=True) as session:
            row = find_agent(session, ref, owner=self._owner)
            session.delete(row)
            return row.id


def _apply(row: Agent, spec: AgentSpec) -> None:
    row.description = spec.description
    row.instructions = spec.instructions
    row.model = spec.model
    row.tools = list(spec.tools)
    row.vector_store_ids = list(spec.vector_store_ids)
    row.memory = spec.memory
