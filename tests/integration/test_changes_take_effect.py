"""Changes take effect when they are made (issue 19), on the local stack, with the time each one takes.

Each test makes a change the way an operator or an agent does (the CLI, the logout route) while the
functions' caches are warm, then measures the time from the change to the first refusal (or the first
successful delivery) and checks it against the bound the README documents ("Changes take effect"):

- a logout ends every token of the login at once (``LOGOUT_BOUND``), a refresh after it fails;
- agent removal and session revocation: at once (``AGENT_BOUND``), WebSocket frames included;
- tenant expiry, callout prefixes, API keys: within the tenant cache TTL (``TENANT_BOUND``, 5 s);
- a new CRM endpoint's first event is delivered, signed (the secret re-read once, not 5 minutes later),
  a removed one gets nothing more; a rotated JWT key logs in at its first use;
- ``demo seed`` keeps endpoints and their secrets; a wrong ``--ws-callback-url`` is an error.

The margins are generous (a shared, loaded machine): they check the documented bound, not speed.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from ctibridge.auth import sessions
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli import main as cli
from tests.support.agents import Tab, login
from tests.support.crm_server import CrmServer
from tests.support.local_stack import RunningStack

# The documented bounds (README "Changes take effect"), in seconds.
LOGOUT_BOUND = 0.0
AGENT_BOUND = 0.0
TENANT_BOUND = 5.0
# Added to each bound: request round trips and scheduling on a shared CPU.
MARGIN = 3.0
POLL = 0.1
# A delivery's own way on the local stack (SQS poll, worker, HTTP), added to the enqueue side's bound.
DELIVERY_SECONDS = 5.0


class Shop:
    """A tenant of its own with agents 101 and 102, provisioned through the stack's moto."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self.customer = f"chg{uuid.uuid4().hex[:8]}"
        self.key = f"{self.customer}-access-key-0123456789abcdef"
        self.pbx_secret = f"pbx-{uuid.uuid4().hex}"
        self.api_key = f"ctb_{uuid.uuid4().hex}"
        self.admin = TenantAdmin(stack.table_name, stack.stage)
        self.admin.create_tenant(
            self.customer,
            self.customer,
            jwt_access_key=self.key,
            pbx_secret=self.pbx_secret,
            api_key=self.api_key,
            timezone="UTC",
        )
        self.admin.add_agent(self.customer, "101")
        self.admin.add_agent(self.customer, "102")
        self.http = httpx.Client(base_url=stack.http_url, timeout=10)

    def login(self, ipphone: str = "101") -> str:
        return login(self.stack, ipphone, domain=self.customer, key=self.key)

    def cli(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(
            ["--table", self.stack.table_name, "--stage", self.stack.stage, *argv], out=out, err=err
        )
        return code, out.getvalue(), err.getvalue()

    def me(self, token: str) -> int:
        return self.http.get("/v1/agent/me", headers={"Authorization": f"Bearer {token}"}).status_code

    def refresh(self, token: str) -> httpx.Response:
        return self.http.post("/v1/sessions/refresh", headers={"Authorization": f"Bearer {token}"})

    def calls(self) -> int:
        return self.http.get("/v1/calls", headers={"X-Api-Key": self.api_key}).status_code

    def login_status(self, ipphone: str = "101") -> int:
        try:
            self.login(ipphone)
        except AssertionError:
            return 0
        return 200

    def ring(self, callid: str, extension: str = "101") -> int:
        params = {"secret": self.pbx_secret, "phone": "0901234567", "extension": extension, "callid": callid}
        return self.http.get(f"/wsapi/{self.customer}/incoming_call", params=params).status_code


@pytest.fixture
def shop(stack_env: RunningStack) -> Iterator[Shop]:
    created = Shop(stack_env)
    yield created
    created.http.close()


def seconds_until(condition: Callable[[], bool], give_up: float) -> float:
    """Seconds from now until ``condition()`` first holds (polled); fails after ``give_up`` seconds."""
    started = time.monotonic()
    while not condition():
        elapsed = time.monotonic() - started
        assert elapsed < give_up, f"still not after {elapsed:.1f} s"
        time.sleep(POLL)
    return time.monotonic() - started


def frames_until_closed(tab: Tab, timeout: float) -> list[dict[str, Any]]:
    """Every frame the tab gets until the server closes it (fails if it stays open ``timeout`` s)."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            frames.append(tab.recv(max(0.01, deadline - time.monotonic())))
        except ConnectionClosed:
            return frames


# ---------------------------------------------------------------- sessions (point 1)


def test_logout_ends_every_token_of_the_login_at_once(shop: Shop) -> None:
    # Given a login (token s) refreshed once (s2), both answering
    first = shop.login()
    refreshed = shop.refresh(first)
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()["token"]
    assert shop.me(first) == 200
    assert shop.me(second) == 200
    # When the agent logs out with s2
    assert (
        shop.http.post("/v1/sessions/logout", headers={"Authorization": f"Bearer {second}"}).status_code
        == 200
    )
    # Then the old token s is refused at once
    elapsed = seconds_until(lambda: shop.me(first) == 401, give_up=LOGOUT_BOUND + MARGIN)
    assert elapsed <= LOGOUT_BOUND + MARGIN
    assert shop.me(second) == 401
    # And a refresh with s, after the logout, fails: no new token to keep the login alive
    again = shop.refresh(first)
    assert again.status_code == 401, again.text
    assert again.json()["code"] in {"SESSION_INVALID", "SESSION_REVOKED"}


def test_removing_an_agent_refuses_its_sessions_at_once(shop: Shop) -> None:
    # Given a session of 102, answering
    token = shop.login("102")
    assert shop.me(token) == 200
    # When the operator removes 102
    code, _, err = shop.cli("agent", "remove", shop.customer, "102")
    assert code == 0, err
    # Then its session is refused at the first request after
    assert seconds_until(lambda: shop.me(token) == 401, give_up=AGENT_BOUND + MARGIN) <= AGENT_BOUND + MARGIN
    assert shop.refresh(token).status_code == 401


def test_a_tab_whose_login_ended_is_refused_at_its_next_frame_and_closed(shop: Shop) -> None:
    # Given a tab of 101, whose logout could not reach it (the login ended, the tab left open: as when
    # the logout ran while the tab was connecting, or @connections failed)
    token = shop.login()
    with Tab(shop.stack, token, "ended-login") as tab:
        tab.sync()
        assert sessions.revoke(token) is not None
        changed = time.monotonic()
        # When the tab sends a frame that acts for the agent
        tab.send({"action": "status", "ready": False})
        # Then it is refused (SESSION_REVOKED), told why and closed
        frames = frames_until_closed(tab, AGENT_BOUND + MARGIN)
        elapsed = time.monotonic() - changed
    assert elapsed <= AGENT_BOUND + MARGIN
    assert (frames[0]["type"], frames[0]["code"]) == ("error", "SESSION_REVOKED"), frames
    assert frames[-1]["type"] == "session.revoked", frames


def test_revoked_sessions_are_refused_at_once_and_the_cli_counts_the_tabs_it_closed(shop: Shop) -> None:
    # Given two tabs of 101 on one login
    token = shop.login()
    tabs = [Tab(shop.stack, token, f"revoked-{n}") for n in range(2)]
    try:
        for tab in tabs:
            tab.sync()
        # When the operator revokes 101's sessions through the stack's @connections endpoint
        code, out, err = shop.cli(
            "agent",
            "update",
            shop.customer,
            "101",
            "--revoke-sessions",
            "--ws-callback-url",
            shop.stack.callback_url,
        )
        # Then the CLI says how many tabs were told and closed: the two
        assert code == 0, err
        assert "Open webphone tabs of those sessions: 2; told 2, closed 2." in out
        assert shop.me(token) == 401
        for tab in tabs:
            assert [f["type"] for f in frames_until_closed(tab, MARGIN)] == ["session.revoked"]
    finally:
        for tab in tabs:
            tab.close()


def test_a_wrong_ws_callback_url_is_an_error_and_revokes_nothing(shop: Shop) -> None:
    # Given a live session of 101
    token = shop.login()
    wrong = [
        shop.stack.callback_url.rsplit("/", 1)[0] + "/nostage",  # the stack, a wrong stage
        "http://127.0.0.1:9/dev",  # nothing listens there
    ]
    for url in wrong:
        # When the operator revokes through a wrong @connections URL
        code, out, err = shop.cli(
            "agent", "update", shop.customer, "101", "--revoke-sessions", "--ws-callback-url", url
        )
        # Then it is an error with a non-zero exit, which claims nothing, and the session still works
        assert code != 0, out
        assert "WS_CALLBACK_URL_INVALID" in err
        assert "told" not in out
        assert shop.me(token) == 200


# ---------------------------------------------------------------- tenant state (point 2)


def test_tenant_expiry_refuses_logins_sessions_and_api_keys_within_the_bound(shop: Shop) -> None:
    # Given warm caches: a session, the API key and logins all answering
    token = shop.login()
    assert (shop.me(token), shop.calls(), shop.login_status()) == (200, 200, 200)
    # When the operator expires the tenant
    code, _, err = shop.cli("tenant", "expire", shop.customer)
    assert code == 0, err
    # Then each is refused within the tenant cache bound
    give_up = TENANT_BOUND + MARGIN
    assert seconds_until(lambda: shop.me(token) == 401, give_up) <= give_up
    assert seconds_until(lambda: shop.calls() != 200, give_up) <= give_up
    answer = shop.http.post(f"/{shop.customer}/thirdParty/login", json={"token": "x"})
    assert answer.status_code == 405, answer.text
    assert shop.refresh(token).status_code == 401


def test_a_callout_deny_prefix_applies_within_the_bound(shop: Shop) -> None:
    # Given click-to-call of a mobile number answered (whatever the PBX side says, not a prefix denial)
    def denied() -> bool:
        answer = shop.http.post(
            "/v1/calls/outbound",
            headers={"X-Api-Key": shop.api_key},
            json={"extension": "101", "phone": "0901234567"},
        )
        return answer.status_code == 403 and answer.json().get("code") == "CALLOUT_PERMISSION_DENY"

    assert not denied()
    # When the operator denies the prefix 090
    code, _, err = shop.cli("tenant", "update", shop.customer, "--callout-deny-prefix", "090")
    assert code == 0, err
    # Then click-to-call refuses it within the bound
    assert seconds_until(denied, TENANT_BOUND + MARGIN) <= TENANT_BOUND + MARGIN


# ---------------------------------------------------------------- secrets (point 3)


def test_a_rotated_jwt_key_logs_in_at_its_first_use(shop: Shop) -> None:
    # Given a warm login function (the old key cached)
    assert shop.login_status() == 200
    # When the operator rotates the key
    code, out, err = shop.cli("tenant", "rotate-key", shop.customer, "--kind", "jwt", "--json")
    assert code == 0, err
    shop.key = json.loads(out)["value"]
    # Then a token signed with the new key logs in at once (the cached secret is re-read once)
    assert shop.login_status() == 200


def test_a_new_crm_endpoint_gets_its_first_event_signed_and_a_removed_one_nothing(shop: Shop) -> None:
    crm = CrmServer().start()
    try:
        # Given warm caches (the tenant and its secrets read by the webhook and the worker)
        assert shop.ring("warm") == 200
        # When the operator adds an endpoint
        code, _, err = shop.cli(
            "crm",
            "endpoint",
            "add",
            shop.customer,
            f"{crm.url}/hooks",
            "--id",
            "main",
            "--allow-private-network",
            "--json",
        )
        assert code == 0, err
        changed = time.monotonic()
        # Then a call ringing from then on reaches it, signed: the first event delivered is within the
        # tenant cache bound of the change, and no delivery failed for a missing secret
        n = 0

        def delivered() -> bool:
            nonlocal n
            n += 1
            assert shop.ring(f"new-{n}") == 200
            return bool(crm.accepted())

        give_up = TENANT_BOUND + MARGIN + DELIVERY_SECONDS
        seconds_until(delivered, give_up)
        assert time.monotonic() - changed <= give_up
        assert crm.accepted()[0].json()["type"] == "call.ringing"
        failures = shop.http.get(
            "/v1/deliveries", params={"status": "failed"}, headers={"X-Api-Key": shop.api_key}
        )
        assert failures.status_code == 200
        assert not [i for i in failures.json()["items"] if "SECRET_MISSING" in json.dumps(i)]
        # When the operator removes it
        code, _, err = shop.cli("crm", "endpoint", "remove", shop.customer, "main")
        assert code == 0, err
        time.sleep(1.0)  # deliveries queued before the removal may still land
        crm.clear()
        # Then calls after the removal are not delivered to it
        for m in range(5):
            assert shop.ring(f"after-{m}") == 200
        time.sleep(3.0)
        assert crm.accepted() == []
    finally:
        crm.stop()


# ---------------------------------------------------------------- demo seed (point 4)


def test_demo_seed_again_keeps_endpoints_and_their_secrets(stack_env: RunningStack) -> None:
    admin = TenantAdmin(stack_env.table_name, stack_env.stage)

    def run(*argv: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(
            ["--table", stack_env.table_name, "--stage", stack_env.stage, *argv], out=out, err=err
        )
        assert code == 0, err.getvalue()
        return code, out.getvalue()

    # Given the demo tenant with a CRM endpoint (its signing secret) and an agent added by hand
    endpoint_id = f"seed{uuid.uuid4().hex[:6]}"
    ipphone = str(500 + int(uuid.uuid4().int % 400))
    run("crm", "endpoint", "add", "demo", "https://crm.example.com/hooks", "--id", endpoint_id)
    run("agent", "add", "demo", ipphone, "--sip-password", "by-hand")
    before = admin.read_secrets("demo")
    try:
        # When the demo is seeded again
        _, out = run("demo", "seed", "--json")
        # Then nothing was created or reset
        assert json.loads(out)["created"] == []
        after = admin.read_secrets("demo")
        assert after.plain() == before.plain()
        assert after.crm_endpoint_secrets[endpoint_id].signing_secret is not None
        assert admin.repository.get_agent("demo", ipphone, consistent=True) is not None
    finally:
        run("crm", "endpoint", "remove", "demo", endpoint_id)
        run("agent", "remove", "demo", ipphone)
