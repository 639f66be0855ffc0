"""Agent login and sessions.

- ``POST /{domain}/thirdParty/login``: the seeds' login (001/002), ``{"token": "<CRM JWT>"}`` →
  ``{"code": "ok", "user": {"user_id", "token", "ipphone", ...}}``; errors keep the seeds' statuses.
- ``POST /v1/sessions/refresh`` and ``POST /v1/sessions/logout`` with ``Authorization: Bearer <user.token>``;
  a logout also closes the WebSocket tabs of that login (told ``session.revoked`` first).
- ``GET /v1/agent/me``: the agent's profile and webphone (SIP) settings, for the session's agent only.
"""

import time
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ctibridge import snapstart
from ctibridge.auth import crm_jwt, sessions
from ctibridge.auth import login as seed_login
from ctibridge.auth.api_keys import bearer_token
from ctibridge.client_address import client_address
from ctibridge.http_api import APIGatewayHttpResolver
from ctibridge.http_errors import register_error_handlers, resolve
from ctibridge.observability import log_metrics, logger
from ctibridge.settings import get_settings
from ctibridge.tenants import repository
from ctibridge.tenants.secrets import get_secrets
from ctibridge.tenants.webphone import webphone_config

snapstart.install()  # SnapStart (template parameter): forget credentials, caches, seeds on restore

# No enable_validation: no route here takes typed query or body parameters (bodies are parsed by our
# models), and Powertools' validation would build its TypeAdapters on the first event (~40 ms cold).
app = APIGatewayHttpResolver()
register_error_handlers(app)


@app.post("/<domain>/thirdParty/login")
def login(domain: str) -> dict[str, Any]:
    # The body is parsed here, not by Powertools: the seed's PHP demo posts multipart/form-data.
    event = app.current_event
    token = seed_login.parse_login_token(event.raw_event)
    # The agent's address, also behind the webphone's CloudFront host (not the edge's): the throttle's key.
    result = seed_login.login(domain, token, source_ip=client_address(event.raw_event))
    return {"code": "ok", "user": result.user()}


def _session() -> tuple[str, sessions.Session]:
    token = bearer_token(app.current_event.headers)
    if token is None:
        raise sessions.SessionInvalid("Send the session token as 'Authorization: Bearer <token>'.")
    return token, sessions.verify(token)


def _session_answer(token: str, session: sessions.Session) -> dict[str, Any]:
    tenant = repository.get_by_customer(session.tenant_id)
    if tenant is None:
        raise sessions.SessionRevoked()
    return {
        "code": "ok",
        "token": token,
        "expired": crm_jwt.format_epoch(session.expires_at, tenant.zone),
        "expires_at": session.expires_at,
        "expires_in": max(0, session.expires_at - int(time.time())),
    }


@app.post("/v1/sessions/refresh")
def refresh() -> dict[str, Any]:
    token, _ = _session()
    new_token, new_session = sessions.refresh(token)
    return _session_answer(new_token, new_session)


@app.post("/v1/sessions/logout")
def logout() -> dict[str, Any]:
    token = bearer_token(app.current_event.headers)
    if token is None:
        raise sessions.SessionInvalid("Send the session token as 'Authorization: Bearer <token>'.")
    session = sessions.revoke(token)
    if session is not None:
        # Imported here: the real-time modules cost the login's cold start ~40 ms, for a rare route.
        from ctibridge.realtime import revocation

        logger.append_keys(tenant=session.tenant_id, ipphone=session.ipphone)
        revocation.end_session(session.tenant_id, session.ipphone, session.session_id)
    return {"code": "ok"}


@app.get("/v1/agent/me")
def me() -> dict[str, Any]:
    _, session = _session()
    tenant = repository.get_by_customer(session.tenant_id)
    agent = repository.get_agent(session.tenant_id, session.ipphone)
    if tenant is None or agent is None:  # verify() just saw both: a removal raced this request
        raise sessions.SessionRevoked()
    logger.append_keys(tenant=tenant.tenant_id, ipphone=agent.ipphone)
    return {
        "code": "ok",
        "agent": {
            "user_id": agent.user_id,
            "ipphone": agent.ipphone,
            "display_name": agent.display_name,
            "device_type": int(agent.device_type),
            "mobile": agent.mobile,
            "domain": tenant.domain,
            "customer": tenant.tenant_id,
            "timezone": tenant.timezone,
        },
        "session": {
            "expired": crm_jwt.format_epoch(session.expires_at, tenant.zone),
            "expires_at": session.expires_at,
        },
        "realtime": {"ws_url": get_settings().realtime_ws_url},
        # Where the webphone may be embedded and talk by postMessage (iframe mode, issue 9).
        "embed": {"allowed_origins": tenant.allowed_origins},
        "webphone": webphone_config(tenant, agent, get_secrets(tenant.tenant_id)),
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@log_metrics  # EMF metrics (ctibridge.observability.METRICS), once per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
