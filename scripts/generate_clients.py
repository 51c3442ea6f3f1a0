"""Regenerates what the client libraries take from the API's OpenAPI document, so no type
is kept by hand: `clients/openapi.json` (the whole document), the Python client's models
(`src/mmstack/client/models.py`, from the native `/api` operations, by
datamodel-code-generator) and the TypeScript client's types
(`clients/typescript/src/schema.d.ts`, by openapi-typescript, when its packages are
installed). `tests/client/test_generated.py` fails when any of them is stale.

    .venv/bin/python scripts/generate_clients.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "clients" / "openapi.json"
MODELS = ROOT / "src" / "mmstack" / "client" / "models.py"
TYPESCRIPT = ROOT / "clients" / "typescript"
CODEGEN = str(Path(sys.executable).parent / "datamodel-codegen")
HEADER = (
    "# Longer than 400 lines: generated from the OpenAPI document by\n"
    "# scripts/generate_clients.py (datamodel-code-generator); do not edit by hand."
)


def openapi_document() -> dict[str, Any]:
    """The document the server publishes at /openapi.json (the app is built, not started)."""
    from mmstack.api.app import create_app
    from mmstack.config.settings import Settings

    with tempfile.TemporaryDirectory() as data_dir:
        document: dict[str, Any] = create_app(Settings(data_dir=Path(data_dir))).openapi()
    return document


def native_part(document: dict[str, Any]) -> dict[str, Any]:
    """The document cut to the native API (`/api/...`) and the schemas it uses."""
    paths = {p: item for p, item in document["paths"].items() if p.startswith("/api/")}
    schemas = document["components"]["schemas"]
    wanted: set[str] = set()
    pending = [paths]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in wanted:
                    wanted.add(name)
                    pending.append(schemas[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    # Names FastAPI qualified because the OpenAI part has a schema of the same name
    # (`mmstack__api__schemas__SearchRequest`) get their own name back.
    short = {name: name.rsplit("__", 1)[-1] for name in wanted}
    if len(set(short.values())) != len(short):
        short = {name: name for name in wanted}
    text = json.dumps({"paths": paths, "schemas": {n: schemas[n] for n in sorted(wanted)}})
    for name, new in short.items():
        text = text.replace(f'"#/components/schemas/{name}"', f'"#/components/schemas/{new}"')
    native = json.loads(text)
    components = {"schemas": {short[n]: schema for n, schema in native["schemas"].items()}}
    return {**document, "paths": native["paths"], "components": components}


def without_patterns(node: Any) -> Any:
    """The schema without `pattern`s: the server checks them (and says what is wrong), and
    some are Python regular expressions that pydantic's engine does not take."""
    if isinstance(node, dict):
        return {k: without_patterns(v) for k, v in node.items() if k != "pattern"}
    if isinstance(node, list):
        return [without_patterns(v) for v in node]
    return node


def python_models(native: dict[str, Any]) -> str:
    native = without_patterns(native)
    with tempfile.TemporaryDirectory() as work:
        source, target = Path(work) / "openapi.json", Path(work) / "models.py"
        source.write_text(json.dumps(native))
        subprocess.run(
            [
                CODEGEN,
                "--input", str(source),
                "--input-file-type", "openapi",
                "--output", str(target),
                "--output-model-type", "pydantic_v2.BaseModel",
                "--target-python-version", "3.11",
                "--use-standard-collections",
                "--use-union-operator",
                "--field-constraints",
                "--use-schema-description",
                "--enum-field-as-literal", "all",
                "--collapse-root-models",
                "--disable-timestamp",
                "--custom-file-header", HEADER,
            ],
            check=True,
        )  # fmt: skip
        return target.read_text()


def typescript_types(openapi_file: Path) -> str:
    """`schema.d.ts` for `openapi_file`, by the package's own openapi-typescript."""
    with tempfile.TemporaryDirectory() as work:
        target = Path(work) / "schema.d.ts"
        command = TYPESCRIPT / "node_modules" / ".bin" / "openapi-typescript"
        subprocess.run(
            [str(command), str(openapi_file), "--output", str(target)],
            check=True,
            capture_output=True,
        )
        return target.read_text()


def generated() -> dict[Path, str]:
    """Each generated file's path and what it should hold now."""
    document = openapi_document()
    files = {OPENAPI: json.dumps(document, indent=2, sort_keys=True) + "\n"}
    with tempfile.TemporaryDirectory() as work:
        models = Path(work) / "models.py"
        models.write_text(python_models(native_part(document)))
        ruff = Path(sys.executable).parent / "ruff"
        subprocess.run([str(ruff), "format", "-q", str(models)], check=True)
        files[MODELS] = models.read_text()
        openapi_file = Path(work) / "openapi.json"
        openapi_file.write_text(files[OPENAPI])
        files[TYPESCRIPT / "src" / "schema.d.ts"] = typescript_types(openapi_file)
    return files


def main() -> None:
    for path, text in generated().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
