"""The HTTP API's OpenAPI document, built from the handlers themselves (served at ``/openapi.json``).

Every HTTP function of template.yaml is an ``APIGatewayHttpResolver(enable_validation=True)``; its
``app.get_openapi_json_schema()`` describes its routes with the parameters and models Powertools
validates. This module loads each function's ``app`` the way Lambda loads the handler (by file path),
merges the documents and adds what Powertools cannot know:

* **who may call each route** (``x-ctibridge-auth`` and the standard ``security``), from ``ROUTE_AUTH``:
  the security tests read it, and a unit test fails on a route that declares nothing;
* **the inputs of routes that read the raw request** (the PBX webhooks take their fields from the query,
  a JSON or a form body; the seed login takes JSON, a form or multipart; some routes authenticate before
  parsing their body), from the same pydantic models and patterns the handlers validate with;
* **the error answers**: every error is ``{"code", "message"}`` JSON with status 400 (never 422).

Local tooling only: the deployed API has no such route (``make dev`` serves it at ``GET /openapi.json``,
the contract tests feed it to schemathesis).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ctibridge_local.template import Template, parse

OPENAPI_PATH = "/openapi.json"

# Who may call a route. "none": anyone; "api-key": the tenant's CRM API key (X-Api-Key or Bearer);
# "api-key-query": the same key as ?secret= (seed click2call.php); "session": the agent's session token
# (Bearer user.token of the seed login); "pbx-secret": the tenant's PBX secret (?secret=, X-Api-Key,
# Bearer or Basic); "crm-jwt": a login JWT signed with the tenant's access key, in the body.
AUTH_KINDS = ("none", "api-key", "api-key-query", "session", "pbx-secret", "crm-jwt")
ROUTE_AUTH: dict[tuple[str, str], str] = {
    ("GET", "/health"): "none",
    ("POST", "/{domain}/thirdParty/login"): "crm-jwt",
    ("POST", "/v1/sessions/refresh"): "session",
    ("POST", "/v1/sessions/logout"): "session",
    ("GET", "/v1/agent/me"): "session",
    ("POST", "/v1/tokens"): "api-key",
    ("GET", "/v1/calls"): "api-key",
    ("GET", "/v1/calls/{callid}"): "api-key",
    ("GET", "/v1/agent/calls"): "session",
    ("GET", "/v1/agent/calls/{callid}"): "session",
    ("GET", "/v1/deliveries"): "api-key",
    ("POST", "/v1/calls/outbound"): "api-key",
    ("GET", "/v1/calls/outbound/{request_id}"): "api-key",
    ("GET", "/wsapi/{customer}/click2call.php"): "api-key-query",
    **{
        (method, f"/wsapi/{{customer}}/{event}"): "pbx-secret"
        for method in ("GET", "POST", "PUT")
        for event in ("incoming_call", "outgoing_call", "call_answered")
    },
}
UNDECLARED = "undeclared"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "The tenant's CRM API key.",
    },
    "ApiKeyBearer": {"type": "http", "scheme": "bearer", "description": "The CRM API key as a Bearer token."},
    "ApiKeyQuery": {"type": "apiKey", "in": "query", "name": "secret", "description": "The CRM API key."},
    "SessionToken": {"type": "http", "scheme": "bearer", "description": "user.token of the seed login."},
    "PbxSecret": {
        "type": "apiKey",
        "in": "query",
        "name": "secret",
        "description": "The tenant's PBX secret.",
    },
    "PbxSecretHeader": {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "PBX secret."},
}
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "none": [],
    "api-key": [{"ApiKey": []}, {"ApiKeyBearer": []}],
    "api-key-query": [{"ApiKeyQuery": []}, {"ApiKey": []}],
    "session": [{"SessionToken": []}],
    "pbx-secret": [{"PbxSecret": []}, {"PbxSecretHeader": []}],
    "crm-jwt": [],  # the credential is the body's token
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "description": "Stable, machine-readable (e.g. VALIDATION_ERROR)."},
        "message": {"type": "string", "description": "For humans; may change."},
        "field": {"type": ["string", "null"], "description": "The first invalid field, if any."},
    },
}
_ERROR_RESPONSE = {
    "description": "Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _webhook_fields(kind: str) -> dict[str, dict[str, Any]]:
    """The fields of a PBX event (seed 004), with the patterns ``ctibridge.webhooks.models`` checks."""
    from ctibridge.webhooks import models

    fields: dict[str, dict[str, Any]] = {
        "callid": {"type": "string", "pattern": models._CALLID.pattern, "description": "The PBX's call id."},
        "phone": {"type": "string", "maxLength": 64, "description": "The customer's number, as dialed."},
        "extension": {"type": "string", "pattern": models._EXTENSION.pattern, "description": "The agent."},
    }
    if kind == "call_answered":
        fields.update(
            {
                "calldate": {
                    "type": "string",
                    "description": "'Y-m-d H:i:s' in the tenant's timezone, ISO 8601 or epoch seconds.",
                },
                "duration": {"type": "string", "pattern": models._INTEGER.pattern},
                "billsec": {"type": "string", "pattern": models._INTEGER.pattern},
                "status": {"type": "string", "maxLength": models.MAX_FIELD_CHARS},
                "recording": {"type": "string", "maxLength": models.MAX_URL_CHARS},
                "userfield": {"type": "string", "maxLength": models.MAX_USERFIELD_CHARS},
            }
        )
    return fields


def _object(properties: dict[str, dict[str, Any]], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _query(properties: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    # Optional in the query: a PBX may send any of them in the body instead.
    return [{"name": name, "in": "query", "required": False, "schema": s} for name, s in properties.items()]


@dataclass(frozen=True)
class _Inputs:
    """What a route that reads its raw request takes, for the document."""

    query: list[dict[str, Any]] | None = None
    body: dict[str, Any] | None = None  # media type -> schema
    body_model: str | None = None  # name of a pydantic model in the function's module (JSON body)
    query_model: str | None = None  # its fields are the query parameters (all optional)


def _raw_inputs(method: str, path: str) -> _Inputs | None:
    match = re.fullmatch(r"/wsapi/\{customer\}/(incoming_call|outgoing_call|call_answered)", path)
    if match:
        fields = _webhook_fields(match.group(1))
        if method == "GET":
            return _Inputs(query=_query(fields))
        form = _object(fields)
        return _Inputs(
            query=_query(fields),
            body={
                "application/json": form,
                "application/x-www-form-urlencoded": form,
                "multipart/form-data": form,
            },
        )
    if (method, path) == ("POST", "/{domain}/thirdParty/login"):
        token = _object(
            {"token": {"type": "string", "description": "The CRM-signed JWT (HS256)."}}, ["token"]
        )
        return _Inputs(
            body={
                "application/json": token,
                "application/x-www-form-urlencoded": token,
                "multipart/form-data": token,
            }
        )
    if (method, path) == ("POST", "/v1/tokens"):
        return _Inputs(body_model="MintRequest")
    if (method, path) == ("POST", "/v1/calls/outbound"):
        return _Inputs(body_model="OutboundCallRequest")
    if (method, path) == ("GET", "/wsapi/{customer}/click2call.php"):
        return _Inputs(query_model="OutboundCallRequest")
    return None


def _model_schema(module: ModuleType, name: str, components: dict[str, Any]) -> dict[str, Any]:
    model = getattr(module, name)
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for def_name, definition in schema.pop("$defs", {}).items():
        components.setdefault(def_name, definition)
    components.setdefault(name, schema)
    return {"$ref": f"#/components/schemas/{name}"}


def _describe_inputs(
    operation: dict[str, Any], inputs: _Inputs, module: ModuleType, components: dict[str, Any]
) -> None:
    parameters = operation.setdefault("parameters", [])
    known = {(p["name"], p["in"]) for p in parameters}
    extra = list(inputs.query or [])
    if inputs.query_model:
        model = getattr(module, inputs.query_model)
        properties = model.model_json_schema().get("properties", {})
        extra += _query(
            {name: {k: v for k, v in s.items() if k != "title"} for name, s in properties.items()}
        )
    parameters += [p for p in extra if (p["name"], p["in"]) not in known]
    if not parameters:
        operation.pop("parameters")
    if inputs.body_model:
        schema = _model_schema(module, inputs.body_model, components)
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    elif inputs.body:
        operation["requestBody"] = {
            "required": False,
            "content": {media: {"schema": schema} for media, schema in inputs.body.items()},
        }


def normalize_path(path: str) -> str:
    """``/v1/calls/<callid>`` (Powertools) and ``/v1/calls/{callid}`` (template) → the template's form."""
    return re.sub(r"<(\w+)>", r"{\1}", path)


def _load_app(logical_id: str, app_file: Path) -> ModuleType:
    # A module of its own per function, as Lambda has: every function's file is app.py.
    name = f"_openapi_{logical_id}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, app_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {app_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build(
    template: Template | None = None, loader: Callable[[str, Path], ModuleType] = _load_app
) -> dict[str, Any]:
    """The merged OpenAPI 3.1 document of every HTTP function of ``template``."""
    from ctibridge import __version__

    template = template or parse()
    functions = sorted({route.function for route in template.http_routes})
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for logical_id in functions:
        spec = template.functions[logical_id]
        module_name = spec.handler.rpartition(".")[0]
        module = loader(logical_id, spec.code_uri / (module_name.replace(".", "/") + ".py"))
        document = json.loads(module.app.get_openapi_json_schema())
        for def_name, definition in document.get("components", {}).get("schemas", {}).items():
            if def_name not in ("HTTPValidationError", "ValidationError"):
                components.setdefault(def_name, definition)
        for raw_path, operations in document.get("paths", {}).items():
            path = normalize_path(raw_path)
            for method, operation in operations.items():
                key = (method.upper(), path)
                auth = ROUTE_AUTH.get(key, UNDECLARED)
                responses = {k: v for k, v in operation.get("responses", {}).items() if k != "422"}
                responses.setdefault("400", _ERROR_RESPONSE)
                responses["default"] = _ERROR_RESPONSE
                operation["responses"] = responses
                operation["operationId"] = f"{logical_id}.{operation.get('operationId', method)}"
                operation["x-ctibridge-function"] = logical_id
                operation["x-ctibridge-auth"] = auth
                operation["security"] = _SECURITY.get(auth, [])
                inputs = _raw_inputs(key[0], path)
                if inputs is not None:
                    _describe_inputs(operation, inputs, module, components)
                paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CTI Bridge HTTP API",
            "version": __version__,
            "description": "PBX webhooks (seed 004), agent login (seeds 001/002), the CRM's /v1 API. "
            'Every error is JSON {"code": "STABLE_CODE", "message": "..."}.',
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components, "securitySchemes": SECURITY_SCHEMES},
    }


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation of an OpenAPI document."""
    return {(method.upper(), path) for path, ops in document.get("paths", {}).items() for method in ops}


_cache: dict[int, dict[str, Any]] = {}
_lock = threading.Lock()


def document(template: Template) -> dict[str, Any]:
    """The document of a running stack's template (built once, on first request)."""
    with _lock:
        if id(template) not in _cache:
            _cache[id(template)] = build(template)
        return _cache[id(template)]


def endpoint(template: Template) -> Callable[[Any], Any]:
    """A Starlette endpoint answering the document (the local stack's ``GET /openapi.json``)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    async def serve(_: Any) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(document, template))

    return serve
