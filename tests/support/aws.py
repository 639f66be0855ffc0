"""AWS fakes for unit tests: the table built from template.yaml, and HTTP API (payload 2.0) events.

The table's keys and indexes are read from the template, so the schema lives in one place and a
test cannot pass against a table the deployment would not have.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
from pathlib import Path
from typing import Any

import boto3

from ctibridge_local.template import load_raw

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"


@functools.lru_cache(maxsize=4)
def _parsed(path: Path, mtime_ns: int) -> dict[str, Any]:
    return load_raw(path)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain data (parsed once per file version: parsing costs ~0.25 s)."""
    return copy.deepcopy(_parsed(path, path.stat().st_mtime_ns))


def create_table_from_template(name: str = "ctibridge-test", logical_id: str = "Table") -> Any:
    """Create (in the active moto mock) the template's table under ``name``; answers the Table resource."""
    properties = load_template()["Resources"][logical_id]["Properties"]
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if properties.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    client = boto3.client("dynamodb")
    client.create_table(**kwargs)
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return boto3.resource("dynamodb").Table(name)


def load_event(function: str, case: str) -> dict[str, Any]:
    """A sample event from ``events/<function>/<case>.json`` (a fresh copy every call)."""
    return json.loads((EVENTS / function / f"{case}.json").read_text())


def http_event(
    method: str,
    path: str,
    *,
    route: str | None = None,
    path_parameters: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: str | bytes | dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event, as it reaches the function.

    ``body`` may be a dict (sent as JSON with its Content-Type), text or bytes. ``base`` is a sample
    event whose request context is kept.
    """
    event: dict[str, Any] = copy.deepcopy(base) if base else {"version": "2.0", "requestContext": {}}
    all_headers = {"host": "abc123.execute-api.us-east-1.amazonaws.com", "user-agent": "pytest"}
    raw: bytes | None = None
    if isinstance(body, dict):
        raw = json.dumps(body).encode()
        all_headers["content-type"] = "application/json"
    elif isinstance(body, str):
        raw = body.encode()
    elif isinstance(body, bytes):
        raw = body
    # API Gateway lowercases header names in payload 2.0.
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    route_key = f"{method} {route or path}"
    context: dict[str, Any] = event.setdefault("requestContext", {})
    context.update(
        {
            "routeKey": route_key,
            "http": {
                **context.get("http", {}),
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": all_headers["user-agent"],
            },
            "stage": "$default",
        }
    )
    context.setdefault("requestId", "test-request")
    event.update(
        {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": path,
            "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
            "headers": all_headers,
            "isBase64Encoded": base64_body,
        }
    )
    if query:
        event["queryStringParameters"] = dict(query)
    else:
        event.pop("queryStringParameters", None)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    else:
        event.pop("pathParameters", None)
    if raw is None:
        event.pop("body", None)
    else:
        event["body"] = base64.b64encode(raw).decode() if base64_body else raw.decode("utf-8")
    return event
