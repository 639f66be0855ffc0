"""WebSocket ``$connect`` and ``$disconnect``: who a connection is, recorded and forgotten.

``$connect?token=<session token>&tab=<tab id>&device=<1|2|3>``: browsers cannot set headers on a
WebSocket handshake, so the session token (the seed login's ``user.token``) comes in the query string.
The token is verified before anything is written; a bad, expired or revoked one gets 401 and API
Gateway refuses the upgrade with that status. The token is never logged (nor is the query string).

The Origin header is not checked: cross-site WebSocket hijacking rides on ambient credentials
(cookies), and this API has none; a page must present the token, which only the CRM's server-side
login hands out.
"""

from typing import Annotated, Any

from pydantic import ConfigDict, Field, ValidationError

from ctibridge import connections
from ctibridge.auth import sessions
from ctibridge.errors import CtiError
from ctibridge.model import Model
from ctibridge.observability import logger
from ctibridge.realtime import fanout, presence
from ctibridge.realtime.messages import Voice
from ctibridge.tenants.models import DeviceType

TAB_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


class ConnectParams(Model):
    """The query string of ``$connect``; unknown parameters are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    token: Annotated[str, Field(min_length=1, max_length=512)]
    tab: Annotated[str, Field(pattern=TAB_PATTERN)] | None = Field(
        default=None,
        description="The page's id for this tab, kept across reconnects; default: the connection id.",
    )
    device: DeviceType | None = Field(default=None, description="What this tab is set up as (informative).")


def on_connect(connection_id: str, query: dict[str, str] | None) -> int:
    """Authenticate and record a new connection; answers the HTTP status of the handshake."""
    if not query or not query.get("token"):
        logger.info("connect refused", extra={"code": "TOKEN_MISSING"})
        return 401
    try:
        params = ConnectParams.model_validate(query)
    except ValidationError as error:
        fields = [".".join(map(str, e["loc"])) for e in error.errors(include_input=False)]
        logger.info("connect refused", extra={"code": "VALIDATION_ERROR", "fields": fields})
        return 401 if "token" in fields else 400
    try:
        session = sessions.verify(params.token)
    except CtiError as error:
        # Nothing was written: a refused handshake leaves no trace in the table.
        logger.info("connect refused", extra={"code": error.code, "status": error.http_status})
        return error.http_status
    logger.append_keys(tenant=session.tenant_id, ipphone=session.ipphone)
    connection = connections.new(
        connection_id,
        session.tenant_id,
        session.ipphone,
        params.tab,
        int(params.device) if params.device is not None else None,
        session.session_id,
    )
    voice = presence.connect(connection)
    logger.info("connected", extra={"tab": connection.tab, "voice": voice})
    return 200


def on_disconnect(connection_id: str) -> None:
    """Forget the connection; if it held voice, tell the agent's other tabs that voice is free."""
    forgotten = presence.disconnect(connection_id)
    if forgotten is None:
        return
    connection, released_voice = forgotten
    logger.append_keys(tenant=connection.tenant_id, ipphone=connection.ipphone)
    logger.info("disconnected", extra={"tab": connection.tab, "released_voice": released_voice})
    if released_voice:
        fanout.send_to_agent(
            connection.tenant_id,
            connection.ipphone,
            Voice(enabled=False, holder_tab=None, reason="released"),
        )


def query_of(event: dict[str, Any]) -> dict[str, str]:
    return dict(event.get("queryStringParameters") or {})
