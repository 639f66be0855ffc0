"""The login throttle behind the one public host: agents at different viewer addresses, reaching the API
through the same forwarder (CloudFront on AWS, the web port here), are throttled separately, and a caller
of the API's own URL (execute-api on AWS, the HTTP port here) cannot pick the address it is counted at.

Each client binds its own loopback address (127.0.0.0/8 is all local on Linux), as agents at different
addresses would; the web port forwards with X-Ctibridge-Viewer-Address and the stack's origin value, as
the distribution does (ctibridge_local.api_forward, template.yaml OriginVerifySecret).
"""

from __future__ import annotations

import random
import warnings
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import jwt
from jwt.warnings import InsecureKeyLengthWarning

from tests.support.local_stack import RunningStack

DEMO_ACCESS_KEY = "demo-access-key"
MAX_TRIES = 50  # far above LOGIN_MAX_FAILURES: the loop ends at the first 429


def _token(key: str, ipphone: str = "101") -> str:
    expired = (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode({"ipphone": ipphone, "expired": expired}, key, algorithm="HS256")


def _client(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def _login(client: httpx.Client, base_url: str, token: str, headers: dict[str, str] | None = None) -> int:
    answer = client.post(f"{base_url}/demo/thirdParty/login", json={"token": token}, headers=headers or {})
    return answer.status_code


def _lock_out(client: httpx.Client, base_url: str, headers: dict[str, str] | None = None) -> int:
    """Bad tokens claiming agent 101 until the login answers 429; answers how many were refused (401)."""
    for refused in range(MAX_TRIES):
        status = _login(client, base_url, _token("guessed-key"), headers)
        if status == 429:
            return refused
        assert status == 401
    raise AssertionError(f"no 429 after {MAX_TRIES} bad logins")


def _addresses() -> list[str]:
    # Fresh addresses per run: the failure counters of other tests (127.0.0.1) and runs stay apart.
    net = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}"
    return [f"{net}.{n}" for n in (2, 3, 4, 5)]


def test_agents_at_different_viewer_addresses_are_throttled_separately_through_the_web_host(
    stack: RunningStack,
) -> None:
    attacker, agent, *_ = _addresses()
    with _client(attacker) as attacker_client, _client(agent) as agent_client:
        # Given bad tokens claiming agent 101 from one address, through the web host, until locked out
        assert _lock_out(attacker_client, stack.web_url) >= 1
        # and that address stays locked out, whatever the token
        assert _login(attacker_client, stack.web_url, _token(DEMO_ACCESS_KEY)) == 429
        # When agent 101 logs in from its own address through the same web host (the same forwarder)
        # Then it is let in: the failures were counted at the attacker's viewer address, not the forwarder's
        assert _login(agent_client, stack.web_url, _token(DEMO_ACCESS_KEY)) == 200


def test_a_direct_caller_cannot_claim_a_viewer_address(stack: RunningStack) -> None:
    _, _, direct, claimed = _addresses()
    forged = {"X-Ctibridge-Viewer-Address": claimed, "X-Ctibridge-Origin-Verify": "guessed"}
    with _client(direct) as direct_client, _client(claimed) as claimed_client:
        # Given a caller of the API's own URL sending CloudFront's header with a guessed proof
        assert _lock_out(direct_client, stack.http_url, forged) >= 1
        # Then it is locked out at its real address, whichever address it claims next
        other = {"X-Ctibridge-Viewer-Address": f"{claimed[:-1]}9", "X-Ctibridge-Origin-Verify": "guessed"}
        assert _login(direct_client, stack.http_url, _token(DEMO_ACCESS_KEY), other) == 429
        # and through the web host too (the forwarder drops its headers and sends its real address)
        assert _login(direct_client, stack.web_url, _token(DEMO_ACCESS_KEY), forged) == 429
        # and the agent at the address it claimed was never counted against
        assert _login(claimed_client, stack.web_url, _token(DEMO_ACCESS_KEY)) == 200
