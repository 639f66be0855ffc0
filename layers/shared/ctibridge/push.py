"""Posting frames to WebSocket clients through API Gateway's @connections management API.

This is the transport only: one frame to one connection (``post``), or closing one (``close``). Fan-out to
an agent's tabs, and forgetting connections that turned out to be gone, live in ``ctibridge.realtime.fanout``;
closing the tabs of an ended session in ``ctibridge.realtime.revocation``.
"""

import json
from functools import lru_cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from ctibridge import aws
from ctibridge.errors import BadRequest
from ctibridge.settings import get_settings

# A connection id of API Gateway's shape that no connection has: GetConnection of it must answer 410.
_PROBE_CONNECTION_ID = "Y3RpYnJpZGdlLXA="


class CallbackUrlInvalid(BadRequest):
    code = "WS_CALLBACK_URL_INVALID"
    message = "The WebSocket @connections endpoint does not answer as one."


# A ring popup is worth nothing after a few seconds: short timeouts, one retry (throttling, 5xx).
# The pool is sized for the fan-out's concurrent posts (botocore's default of 10 would queue them).
_CONFIG: dict[str, Any] = {  # botocore Config arguments (botocore.config loads urllib3: lazily)
    "connect_timeout": 1,
    "read_timeout": 3,
    "retries": {"mode": "standard", "max_attempts": 2},
    "max_pool_connections": 32,
    "tcp_keepalive": True,
}


@lru_cache(maxsize=4)
def _client(endpoint_url: str) -> Any:
    return aws.dedicated_client("apigatewaymanagementapi", endpoint_url, **_CONFIG)


def management_api() -> Any:
    """The thread-safe @connections client of this function's WebSocket API."""
    url = get_settings().websocket_callback_url
    if not url:
        raise RuntimeError("WEBSOCKET_CALLBACK_URL is not set for this function")
    return _client(url)


def is_gone(error: ClientError) -> bool:
    """True when API Gateway says the connection no longer exists (HTTP 410)."""
    return error.response.get("Error", {}).get("Code") == "GoneException"


def encode(message: BaseModel | dict[str, Any] | bytes) -> bytes:
    if isinstance(message, bytes):
        return message
    if isinstance(message, BaseModel):
        return message.model_dump_json().encode()
    return json.dumps(message, separators=(",", ":"), default=str, ensure_ascii=False).encode()


def post(connection_id: str, data: bytes) -> bool:
    """Post one frame; False when that connection is gone.

    Any other failure is raised: a throttled or failing API must not look like a closed tab.
    """
    try:
        management_api().post_to_connection(ConnectionId=connection_id, Data=data)
    except ClientError as error:
        if is_gone(error):
            return False
        raise
    return True


def send(connection_id: str, message: BaseModel | dict[str, Any] | bytes) -> bool:
    """``post`` of a model, a dict (as JSON) or ready bytes."""
    return post(connection_id, encode(message))


def close(connection_id: str) -> bool:
    """Close a connection from the server side (API Gateway then runs ``$disconnect``); False when it
    was already gone, which is fine. Any other failure is raised, as by ``post``.
    """
    try:
        management_api().delete_connection(ConnectionId=connection_id)
    except ClientError as error:
        if is_gone(error):
            return False
        raise
    return True


def check_endpoint() -> None:
    """Raise ``CallbackUrlInvalid`` unless ``WEBSOCKET_CALLBACK_URL`` is a WebSocket API's @connections
    endpoint.

    GetConnection of an id no connection has: a real endpoint answers 410 (GoneException); a wrong
    URL fails to connect, or answers 403/404 (another API, a wrong stage). The operators' CLI checks
    before revoking, so it never claims to have closed tabs through an endpoint that is not one.
    """
    url = get_settings().websocket_callback_url
    try:
        management_api().get_connection(ConnectionId=_PROBE_CONNECTION_ID)
    except ClientError as error:
        if is_gone(error):
            return
        code = error.response.get("Error", {}).get("Code", "error")
        raise CallbackUrlInvalid(f"{url} answered {code} to GetConnection, not GoneException.") from None
    except (BotoCoreError, ValueError) as error:
        raise CallbackUrlInvalid(f"{url} cannot be reached: {type(error).__name__}.") from None
    raise CallbackUrlInvalid(f"{url} claims to have a connection that cannot exist.")
