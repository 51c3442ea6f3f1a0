"""Stored agents: a team's named instructions, model, tools and vector stores, called
through the Responses API as the model `agent/<name>`. Reading needs READ, changing WRITE."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from mmstack.api.agent_schemas import AgentCreate, AgentOut, AgentUpdate
from mmstack.api.deps import AgentsDep, SettingsDep, authorize
from mmstack.api.routes.openai.agent_requests import check_agent
from mmstack.api.schemas import ListOut
from mmstack.auth.roles import EndpointGroup

router = APIRouter(
    prefix="/api/agents",
    tags=["agents"],
    dependencies=[Depends(authorize(EndpointGroup.AGENTS))],
)


@router.get("")
def list_agents(agents: AgentsDep) -> ListOut[AgentOut]:
    """The team's agents, by name."""
    return ListOut(data=[AgentOut.of(agent) for agent in agents.list()])


@router.post("", status_code=201)
def create_agent(body: AgentCreate, agents: AgentsDep, settings: SettingsDep) -> AgentOut:
    """Its tools are checked as a Responses request's would be (a 400 names the wrong
    one); a name the team has already used is a 409."""
    spec = body.spec()
    check_agent(spec, settings)
    return AgentOut.of(agents.create(body.name, spec))


@router.get("/{agent}")
def get_agent(agent: str, agents: AgentsDep) -> AgentOut:
    """By id or name."""
    return AgentOut.of(agents.get(agent))


@router.put("/{agent}")
def replace_agent(
    agent: str, body: AgentUpdate, agents: AgentsDep, settings: SettingsDep
) -> AgentOut:
    """The agent as given (a field left out is its default), renamed when `name` says."""
    spec = body.spec()
    check_agent(spec, settings)
    return AgentOut.of(agents.update(agent, name=body.name, spec=spec))


@router.delete("/{agent}", status_code=204)
def delete_agent(agent: str, agents: AgentsDep) -> Response:
    agents.delete(agent)
    return Response(status_code=204)
