"""`mmstack mcp`: mmstack's MCP tools over stdio, for a local client (an editor, a coding
agent) that starts it as a process. It opens the stack itself, so it runs where no
`mmstack up` holds the same data directory; beside a running server, point the client at
the server's `/mcp` instead (docs/MCP.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from mmstack.cli.options import opened_stack
from mmstack.cli.output import fail
from mmstack.errors import MMStackError


def mcp(
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="MMSTACK_API_KEY",
            help="The API key whose user, team and scopes the tools act for",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        bool, typer.Option(help="Ingest what `ingest` adds (job worker threads in this process)")
    ] = True,
) -> None:
    """Serve the MCP tools (search, ask, ingest, list_collections) and the collections as
    resources over stdio, for the user of --api-key (or MMSTACK_API_KEY)."""
    if not api_key:
        fail("an API key is needed: --api-key or MMSTACK_API_KEY (mmstack keys create)")
    from mmstack.tools.mcp_server import build_server, current_toolbox
    from mmstack.tools.toolbox import Toolbox

    with opened_stack(make_first_admin=False) as stack:
        try:
            principal = stack.auth.authenticate(f"Bearer {api_key}")
        except MMStackError as exc:
            fail(exc.message)
        current_toolbox.set(Toolbox(stack, principal))
        if workers:
            stack.start_workers()
        build_server().run("stdio")
