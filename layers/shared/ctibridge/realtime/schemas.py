"""JSON Schema of every WebSocket message, generated from ``ctibridge.realtime.messages``.

``python -m ctibridge.realtime.schemas [directory]`` writes ``docs/websocket-schemas/``: one file per
message (``client.<action>.json``, ``server.<type>.json``) and the two unions (``client-message.json``,
``server-message.json``). A unit test fails when the files are not what the models generate.
"""

import json
import sys
from pathlib import Path
from typing import Any

from ctibridge.realtime.messages import (
    CLIENT_MODELS,
    SERVER_MODELS,
    VERSION,
    action_of,
    client_request,
    server_push,
)

DEFAULT_DIRECTORY = Path(__file__).resolve().parents[4] / "docs" / "websocket-schemas"
_ID_BASE = "https://ctibridge.example/schemas/websocket"


def _document(schema: dict[str, Any], name: str, title: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_ID_BASE}/v{VERSION}/{name}",
        **schema,
        "title": title,
    }


def generate() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every message and the two unions."""
    files: dict[str, dict[str, Any]] = {}
    for client in CLIENT_MODELS:
        action = action_of(client)
        name = f"client.{action}.json"
        files[name] = _document(client.model_json_schema(mode="validation"), name, client.__name__)
    for server in SERVER_MODELS:
        kind = str(server.model_fields["type"].default)
        name = f"server.{kind}.json"
        files[name] = _document(server.model_json_schema(mode="serialization"), name, server.__name__)
    files["client-message.json"] = _document(
        client_request().json_schema(mode="validation"), "client-message.json", "ClientMessage"
    )
    files["server-message.json"] = _document(
        server_push().json_schema(mode="serialization"), "server-message.json", "ServerMessage"
    )
    return files


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write(directory: Path = DEFAULT_DIRECTORY) -> list[Path]:
    """Write every schema file (and remove stale ones); answers the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    files = generate()
    for stale in directory.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, schema in files.items():
        path = directory / name
        path.write_text(render(schema))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0]) if args else DEFAULT_DIRECTORY
    for path in write(directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
