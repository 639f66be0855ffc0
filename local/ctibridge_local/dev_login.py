"""LOCAL ONLY: demo login tokens for the webphone, so `make dev` and the browser tests can log in.

A real CRM mints the agent's login token on its server with the tenant's access key (seed 001/002) and
hands it to the webphone; the access key never reaches a browser. On the local stack the demo tenant's
key is public (``ctibridge_cli.demo``), so the web port offers two helpers that play the CRM's part:

- ``GET /dev/token?ipphone=101`` → ``{"token", "domain", "ipphone", "expired"}``;
- ``GET /dev/login?ipphone=101`` → a redirect to the webphone with ``#token=...&domain=demo``.

These routes exist only in the local stack's web app (and only with the demo tenant seeded):
template.yaml deploys nothing like them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

TOKEN_TTL_SECONDS = 3600
_IPPHONE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


def mint_demo_token(ipphone: str, ttl_seconds: int = TOKEN_TTL_SECONDS) -> dict[str, Any]:
    """A login token for the demo tenant's agent ``ipphone``, signed as the demo CRM would sign it."""
    from ctibridge.auth import crm_jwt
    from ctibridge.tenants.models import DEFAULT_TIMEZONE
    from ctibridge_cli.demo import DEMO_DOMAIN, DEMO_JWT_ACCESS_KEY

    zone = ZoneInfo(DEFAULT_TIMEZONE)
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl_seconds)
    token = crm_jwt.mint(DEMO_JWT_ACCESS_KEY, ipphone, expires_at=expires_at, zone=zone)
    return {
        "token": token,
        "domain": DEMO_DOMAIN,
        "ipphone": ipphone,
        "expired": crm_jwt.format_expired(expires_at, zone),
    }


def _ipphone(request: Request) -> str | None:
    ipphone = request.query_params.get("ipphone", "101")
    return ipphone if _IPPHONE.fullmatch(ipphone) else None


async def _token(request: Request) -> Response:
    ipphone = _ipphone(request)
    if ipphone is None:
        return JSONResponse({"code": "VALIDATION_ERROR", "message": "ipphone: bad extension"}, 400)
    return JSONResponse(mint_demo_token(ipphone), headers={"Cache-Control": "no-store"})


async def _login(request: Request) -> Response:
    ipphone = _ipphone(request)
    if ipphone is None:
        return JSONResponse({"code": "VALIDATION_ERROR", "message": "ipphone: bad extension"}, 400)
    minted = mint_demo_token(ipphone)
    fragment = urlencode({"token": minted["token"], "domain": minted["domain"]})
    return RedirectResponse(f"/#{fragment}", status_code=302, headers={"Cache-Control": "no-store"})


def routes() -> list[Route]:
    """The local-only routes of the web port (mounted by the stack when the demo tenant is seeded)."""
    return [Route("/dev/token", _token), Route("/dev/login", _login)]
