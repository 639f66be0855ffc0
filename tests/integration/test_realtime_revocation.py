"""Ended sessions close their open tabs on the local stack, over real WebSockets.

A logout (``POST /v1/sessions/logout``) tells the login's tabs ``session.revoked`` and closes them
through @connections DeleteConnection; popups no longer reach them. An operator revoking an agent's
sessions with the CLI does the same for all of that agent's tabs.
"""

from __future__ import annotations

import io
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from ctibridge import connections
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli import main as cli
from tests.support.agents import Tab, login
from tests.support.local_stack import RunningStack

CUSTOMER = "rtrevoke"  # a tenant of its own: other modules' tabs of demo's agents do not interfere
KEY = "rtrevoke-access-key-0123456789abcdef"
SECRET = "rtrevoke-pbx-secret-0123456789"
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def tenant(stack_env: RunningStack) -> RunningStack:
    admin = TenantAdmin(stack_env.table_name, stack_env.stage)
    if admin.repository.get_tenant(CUSTOMER, consistent=True) is None:
        admin.create_tenant(CUSTOMER, CUSTOMER, jwt_access_key=KEY, pbx_secret=SECRET, timezone="UTC")
        admin.add_agent(CUSTOMER, "101")
        admin.add_agent(CUSTOMER, "102")
    return stack_env


def ring(stack: RunningStack, extension: str) -> str:
    callid = f"{time.time():.6f}"
    params = {"secret": SECRET, "phone": "0901234567", "extension": extension, "callid": callid}
    answer = httpx.get(f"{stack.http_url}/wsapi/{CUSTOMER}/incoming_call", params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return callid


def frames_until_closed(tab: Tab) -> list[dict[str, object]]:
    """Every frame the tab gets until the server closes it (fails if it stays open)."""
    frames = []
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            frames.append(tab.recv(max(0.01, deadline - time.monotonic())))
        except ConnectionClosed:
            return frames


def open_tab_ids(ipphone: str) -> set[str]:
    return {c.tab for c in connections.for_agent(CUSTOMER, ipphone)}


def test_logout_closes_the_logins_tabs_and_popups_no_longer_reach_them(tenant: RunningStack) -> None:
    # Given agent 101 logged in, with two tabs on that login, and a tab of another login of 101 and of 102
    token = login(tenant, "101", domain=CUSTOMER, key=KEY)
    tabs = [Tab(tenant, token, "logout-a"), Tab(tenant, token, "logout-b")]
    other_login = Tab(tenant, login(tenant, "101", domain=CUSTOMER, key=KEY), "other-login")
    other_agent = Tab(tenant, login(tenant, "102", domain=CUSTOMER, key=KEY), "other-agent")
    try:
        for tab in [*tabs, other_login, other_agent]:
            tab.sync()
        assert {"logout-a", "logout-b", "other-login"} <= open_tab_ids("101")
        # When the agent logs out of that login
        answer = httpx.post(
            f"{tenant.http_url}/v1/sessions/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        # Then both of its tabs are told why, then closed by the server
        for tab in tabs:
            frames = frames_until_closed(tab)
            assert [f["type"] for f in frames] == ["session.revoked"], frames
            assert frames[0]["reason"] == "logout"
        # And they are no longer recorded: a popup for 101 goes to the other login's tab only
        assert open_tab_ids("101") & {"logout-a", "logout-b"} == set()
        callid = ring(tenant, "101")
        assert other_login.recv_type("call.ringing")["callid"] == callid
        # And the other agent's tab stayed open and still gets its own popups
        callid = ring(tenant, "102")
        assert other_agent.recv_type("call.ringing")["callid"] == callid
    finally:
        for tab in [*tabs, other_login, other_agent]:
            tab.close()


def test_cli_revoke_sessions_closes_every_tab_of_the_agent(tenant: RunningStack) -> None:
    # Given two logins of 102 with a tab each
    tabs = [Tab(tenant, login(tenant, "102", domain=CUSTOMER, key=KEY)) for _ in range(2)]
    try:
        for tab in tabs:
            tab.sync()
        # When an operator revokes 102's sessions with the CLI, giving the @connections endpoint
        out, err = io.StringIO(), io.StringIO()
        argv = [
            "--table",
            tenant.table_name,
            "--stage",
            tenant.stage,
            "--ws-callback-url",
            tenant.callback_url,
        ]
        code = cli.main([*argv, "agent", "update", CUSTOMER, "102", "--revoke-sessions"], out=out, err=err)
        assert code == 0, err.getvalue()
        # Then each tab is told and closed
        for tab in tabs:
            frames = frames_until_closed(tab)
            assert [(f["type"], f["reason"]) for f in frames] == [("session.revoked", "revoked")], frames
        assert open_tab_ids("102") == set()
    finally:
        for tab in tabs:
            tab.close()
