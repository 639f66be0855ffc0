"""The seed login, ``POST /{domain}/thirdParty/login`` (seeds 001/002), as domain logic.

Order of checks, each with the seed's status: domain known (404), domain not expired (405), not locked
out (429), token signed with the tenant's key and not expired (401), ipphone is an agent (400). Then a
session is issued and answered as ``user.token``.

The request body is ``{"token": "..."}`` as JSON per the seed text, but the vendors' own PHP demo
posts it with ``CURLOPT_POSTFIELDS => array('token' => $token)``, i.e. multipart/form-data; urlencoded
forms are accepted too.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ctibridge import request_fields
from ctibridge.auth import crm_jwt, sessions, throttle
from ctibridge.errors import (
    BadRequest,
    DomainExpired,
    DomainNotFound,
    IpphoneNotFound,
    TokenInvalid,
    Unauthorized,
)
from ctibridge.observability import logger
from ctibridge.settings import get_settings
from ctibridge.tenants import repository
from ctibridge.tenants.models import Agent, Tenant
from ctibridge.tenants.secrets import get_secrets, reread_secrets


class TokenMissing(BadRequest):
    code = "TOKEN_MISSING"
    message = 'The body must carry the login token: {"token": "<JWT>"}.'


@dataclass(frozen=True)
class LoginResult:
    tenant: Tenant
    agent: Agent
    token: str = field(repr=False)  # the session token; shown to the caller, never logged
    session: sessions.Session

    def user(self) -> dict[str, Any]:
        """The seed answer's ``user`` object."""
        settings = get_settings()
        user: dict[str, Any] = {
            "user_id": self.agent.user_id,
            "token": self.token,
            "ipphone": self.agent.ipphone,
            "display_name": self.agent.display_name,
            "domain": self.tenant.domain,
            "customer": self.tenant.tenant_id,
            "device_type": int(self.agent.device_type),
            "mobile": self.agent.mobile,
            "timezone": self.tenant.timezone,
            "expired": crm_jwt.format_epoch(self.session.expires_at, self.tenant.zone),
            "expires_in": max(0, self.session.expires_at - int(time.time())),
        }
        if settings.realtime_ws_url:
            user["ws_url"] = settings.realtime_ws_url
        return user


# ---------------------------------------------------------------- request parsing


def parse_login_token(event: Mapping[str, Any]) -> str:
    """The ``token`` of a login request (an API Gateway payload 2.0 event): JSON, urlencoded or multipart."""
    body = request_fields.raw_body(event)
    if not body.strip():
        raise TokenMissing()
    headers = event.get("headers") or {}
    media_type = request_fields.media_type(headers)
    value: Any
    if media_type == request_fields.MULTIPART_MEDIA_TYPE:
        value = request_fields.multipart_fields(body, request_fields.header(headers, "content-type") or "")
        value = value.get("token")
    elif media_type == request_fields.FORM_MEDIA_TYPE:
        value = request_fields.urlencoded_fields(request_fields.text(body)).get("token")
    else:
        # JSON is the documented format; it is also assumed when no Content-Type is sent.
        value = request_fields.json_object(body).get("token")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise TokenMissing()
    if not isinstance(value, str):
        raise BadRequest("token: must be a string.", code="VALIDATION_ERROR", field="token")
    return value.strip()


# ---------------------------------------------------------------- the login


def login(domain: str, token: str, source_ip: str | None = None) -> LoginResult:
    """Verify a CRM login token for ``domain`` and open a session for its agent.

    ``source_ip``: the caller's address (``ctibridge.client_address``: the agent's, also behind CloudFront),
    which failed logins are throttled by (``auth.throttle``).
    """
    settings = get_settings()
    tenant = repository.get_by_domain(domain)
    if tenant is None:
        raise DomainNotFound()
    logger.append_keys(tenant=tenant.tenant_id)
    if not tenant.is_active():
        raise DomainExpired()

    claimed_ipphone = crm_jwt.unverified_ipphone(token)
    throttle.check(tenant.domain, claimed_ipphone, source_ip)

    def verify(access_key: str) -> crm_jwt.LoginClaims:
        return crm_jwt.verify(
            token,
            access_key,
            zone=tenant.zone,
            leeway_seconds=settings.jwt_leeway_seconds,
            default_lifetime_seconds=settings.login_token_default_lifetime_seconds,
        )

    access_key = get_secrets(tenant.tenant_id).jwt_access_key.get_secret_value()
    try:
        try:
            claims = verify(access_key)
        except TokenInvalid:
            # The key may have been rotated since it was cached: re-read it once (rate-limited).
            fresh = reread_secrets(tenant.tenant_id).jwt_access_key.get_secret_value()
            if fresh == access_key:
                raise
            claims = verify(fresh)
    except Unauthorized as error:
        failures = throttle.record_failure(tenant.domain, claimed_ipphone, source_ip)
        logger.info(
            "login refused", extra={"code": error.code, "ipphone": claimed_ipphone, "failures": failures}
        )
        raise

    logger.append_keys(ipphone=claims.ipphone)
    agent = repository.get_agent(tenant.tenant_id, claims.ipphone)
    if agent is None:
        raise IpphoneNotFound()
    session_token, session = sessions.issue(tenant, agent)
    logger.info("agent logged in", extra={"user_id": agent.user_id, "session_expires_at": session.expires_at})
    return LoginResult(tenant=tenant, agent=agent, token=session_token, session=session)
