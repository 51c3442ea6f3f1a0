"""mmstack as tools for agents: search, grounded answers and ingestion bound to one caller
(`Toolbox`), served to MCP clients (`mcp_server`)."""
