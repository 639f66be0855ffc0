"""Ended sessions close their open tabs: a logout, revoked or removed agents, an inactive tenant.

Each closed tab is told why (``session.revoked``), closed through @connections DeleteConnection and
forgotten, so no popup reaches it any more; tabs of other logins, agents and tenants are untouched.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from ctibridge import connections
from ctibridge.auth import sessions
from ctibridge.realtime import fanout, presence
from ctibridge.realtime.messages import Status, server_push
from ctibridge.settings import get_settings
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli import main as cli
from tests.support.aws import load_event, load_template
from tests.support.handlers import load_handler
from tests.support.realtime import Connect, FakeManagementApi, open_tab, session_token
from tests.unit.realtime.conftest import STAGE, TABLE

CALLBACK_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/test"


@pytest.fixture
def logout(lambda_context: Any) -> Any:
    """``logout(token)``: POST /v1/sessions/logout through the agent login function; its status."""
    handler = load_handler("agent_login")

    def call(token: str) -> int:
        event = load_event("agent_login", "logout")
        event["headers"]["authorization"] = f"Bearer {token}"
        return int(handler(event, lambda_context)["statusCode"])

    return call


@pytest.fixture
def tabs(gateway: FakeManagementApi, ws_connect: Connect) -> dict[str, str]:
    """demo/101 logged in twice (tabs a, b on the first login, c on the second), demo/102 (d), acme/101 (e).

    Answers the tokens of the two logins of demo/101.
    """
    first, second = session_token("demo", "101"), session_token("demo", "101")
    open_tab(gateway, ws_connect, "demo", "101", "a", token=first)  # the first tab: it holds voice
    open_tab(gateway, ws_connect, "demo", "101", "b", token=first)
    open_tab(gateway, ws_connect, "demo", "101", "c", token=second)
    open_tab(gateway, ws_connect, "demo", "102", "d")
    open_tab(gateway, ws_connect, "acme", "101", "e")
    return {"first": first, "second": second}


def _revoked(gateway: FakeManagementApi, connection_id: str) -> str:
    """The reason of the tab's last frame, which must be a valid ``session.revoked``."""
    frame = gateway.last(connection_id)
    assert server_push().validate_python(frame).type == "session.revoked"
    return str(frame["reason"])


def _popup_reaches(tenant_id: str, ipphone: str) -> list[str]:
    """Which tabs a popup to the agent reaches now (the fan-out every popup goes through)."""
    return sorted(
        c.connection_id for c in fanout.deliver_to_agent(tenant_id, ipphone, Status(ready=True)).delivered
    )


def test_logout_tells_and_closes_the_tabs_of_that_login_only(
    gateway: FakeManagementApi, tabs: dict[str, str], logout: Any
) -> None:
    # When the first login of demo/101 logs out
    assert logout(tabs["first"]) == 200
    # Then its two tabs were told why, then closed
    assert [_revoked(gateway, tab) for tab in ("a", "b")] == ["logout", "logout"]
    assert sorted(gateway.closed) == ["a", "b"]
    # And they are forgotten: no item, not in the agent's state, no popup reaches them
    assert connections.get("a") is None
    assert connections.get("b") is None
    assert presence.get_state("demo", "101").connections == ("c",)
    assert _popup_reaches("demo", "101") == ["c"]
    # And the other login's tab learnt that voice (held by tab a) is free, and nothing else
    assert [f["type"] for f in gateway.frames["c"]] == ["voice", "status"]
    assert gateway.frames["c"][0]["reason"] == "released"
    # And the other agent and the other tenant heard nothing
    assert gateway.frames["d"] == []
    assert gateway.frames["e"] == []
    assert sorted(gateway.open) == ["c", "d", "e"]


def test_logout_with_a_refreshed_token_closes_tabs_opened_with_the_old_one(
    gateway: FakeManagementApi, tabs: dict[str, str], logout: Any
) -> None:
    # Given the first login refreshed its token after its tabs connected
    refreshed, _ = sessions.refresh(tabs["first"])
    # When it logs out with the new token
    assert logout(refreshed) == 200
    # Then the tabs of that login are closed all the same, and only those
    assert sorted(gateway.closed) == ["a", "b"]
    assert sorted(gateway.open) == ["c", "d", "e"]


def test_a_tab_already_gone_or_failing_to_close_does_not_fail_the_logout(
    gateway: FakeManagementApi, tabs: dict[str, str], logout: Any
) -> None:
    # Given tab a was closed by the browser without its $disconnect reaching us, and closing b is throttled
    gateway.open.discard("a")
    gateway.fail_close.add("b")
    # When the login logs out
    assert logout(tabs["first"]) == 200
    # Then both are forgotten all the same: nothing reaches them any more
    assert connections.get("a") is None
    assert connections.get("b") is None
    assert _popup_reaches("demo", "101") == ["c"]
    # And b was told (its close failed); a could not be (gone)
    assert _revoked(gateway, "b") == "logout"
    assert gateway.frames["a"] == []


def test_a_tab_that_cannot_be_told_is_closed_all_the_same(
    gateway: FakeManagementApi, tabs: dict[str, str], logout: Any
) -> None:
    # Given posts to tab a are throttled
    gateway.fail.add("a")
    # When its login logs out
    assert logout(tabs["first"]) == 200
    # Then a is closed without its notice, b is told and closed
    assert sorted(gateway.closed) == ["a", "b"]
    assert gateway.frames["a"] == []
    assert _revoked(gateway, "b") == "logout"


def test_logging_out_twice_or_with_an_unknown_token_closes_nothing_more(
    gateway: FakeManagementApi, tabs: dict[str, str], logout: Any
) -> None:
    assert logout(tabs["first"]) == 200
    closed = list(gateway.closed)
    # When the same token, and a well-formed unknown one, log out
    assert logout(tabs["first"]) == 200
    assert logout("A" * 43) == 200
    # Then nothing else was closed
    assert gateway.closed == closed


def test_revoking_an_agents_sessions_closes_all_its_tabs(
    gateway: FakeManagementApi, tabs: dict[str, str], admin: TenantAdmin
) -> None:
    # When an operator revokes demo/101's sessions (its session epoch is bumped)
    TenantAdmin(TABLE, STAGE, websocket_callback_url=CALLBACK_URL).update_agent(
        "demo", "101", revoke_sessions=True
    )
    # Then every tab of both its logins is told and closed; nobody else's
    assert [_revoked(gateway, tab) for tab in ("a", "b", "c")] == ["revoked"] * 3
    assert sorted(gateway.closed) == ["a", "b", "c"]
    assert _popup_reaches("demo", "101") == []
    assert presence.get_state("demo", "101").connections == ()
    assert sorted(gateway.open) == ["d", "e"]
    assert gateway.frames["d"] == []


def test_removing_an_agent_closes_its_tabs(gateway: FakeManagementApi, tabs: dict[str, str]) -> None:
    TenantAdmin(TABLE, STAGE, websocket_callback_url=CALLBACK_URL).remove_agent("demo", "101")
    assert {_revoked(gateway, tab) for tab in ("a", "b", "c")} == {"agent_removed"}
    assert sorted(gateway.open) == ["d", "e"]


@pytest.mark.parametrize("change", [{"status": "suspended"}, {"status": "expired"}])
def test_a_tenant_made_inactive_closes_all_its_tabs_and_no_other_tenants(
    gateway: FakeManagementApi, tabs: dict[str, str], change: dict[str, Any]
) -> None:
    # When the demo tenant is suspended or expired
    TenantAdmin(TABLE, STAGE, websocket_callback_url=CALLBACK_URL).update_tenant("demo", **change)
    # Then the tabs of all its agents are told and closed
    assert {_revoked(gateway, tab) for tab in ("a", "b", "c", "d")} == {"tenant_inactive"}
    assert sorted(gateway.closed) == ["a", "b", "c", "d"]
    # And the other tenant's agent with the same extension keeps its tab
    assert gateway.open == {"e"}
    assert gateway.frames["e"] == []


def test_a_profile_change_of_an_active_tenant_closes_nothing(
    gateway: FakeManagementApi, tabs: dict[str, str]
) -> None:
    TenantAdmin(TABLE, STAGE, websocket_callback_url=CALLBACK_URL).update_tenant("demo", name="Renamed")
    assert gateway.closed == []


def test_without_a_websocket_endpoint_tabs_are_forgotten_but_not_closed(
    gateway: FakeManagementApi, tabs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a process that does not know the WebSocket API's endpoint (the CLI without --ws-callback-url)
    monkeypatch.delenv("WEBSOCKET_CALLBACK_URL")
    get_settings.cache_clear()
    # When an operator revokes demo/101's sessions
    TenantAdmin(TABLE, STAGE).update_agent("demo", "101", revoke_sessions=True)
    # Then its tabs are neither told nor closed, but no popup reaches them any more
    assert gateway.closed == []
    assert all(gateway.frames[tab] == [] for tab in ("a", "b", "c"))
    assert connections.for_agent("demo", "101") == []
    assert presence.get_state("demo", "101").connections == ()


def test_cli_revoke_sessions_closes_tabs_through_the_given_endpoint(
    gateway: FakeManagementApi, tabs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the CLI run by an operator: no function environment, the endpoint given as an option
    monkeypatch.delenv("WEBSOCKET_CALLBACK_URL")
    monkeypatch.delenv("TABLE_NAME")
    get_settings.cache_clear()
    out, err = io.StringIO(), io.StringIO()
    argv = ["--table", TABLE, "--stage", STAGE, "agent", "update", "demo", "101", "--revoke-sessions"]
    # When it revokes demo/101's sessions
    code = cli.main([*argv, "--ws-callback-url", CALLBACK_URL], out=out, err=err)
    # Then the agent's tabs are told and closed, and the operator is told so
    assert code == 0, err.getvalue()
    assert sorted(gateway.closed) == ["a", "b", "c"]
    assert "Open webphone tabs of those sessions: 3; told 3, closed 3." in out.getvalue()
    # And the CLI's settings did not leak into the process afterwards
    with pytest.raises(ValueError, match="table_name"):
        get_settings()


def test_connections_record_the_login_they_belong_to(
    gateway: FakeManagementApi, tabs: dict[str, str], table: Any
) -> None:
    # The login's id is on both connection items (not the token, nor its hash)
    first = sessions.verify(tabs["first"]).session_id
    assert first
    assert connections.get("a") is not None
    items = [i for i in table.scan()["Items"] if str(i["SK"]).startswith("CONN") and i.get("tab") == "a"]
    assert len(items) == 2
    assert {i["session_id"] for i in items} == {first}
    assert tabs["first"] not in json.dumps(items, default=str)
    assert sessions.hash_token(tabs["first"]) not in json.dumps(items, default=str)


def test_only_logout_and_the_tabs_own_frames_may_close_connections() -> None:
    # Given the functions of template.yaml
    resources = load_template()["Resources"]
    functions = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}

    def manage_resources(properties: dict[str, Any]) -> list[str]:
        statements = [s for p in properties.get("Policies", []) if "Statement" in p for s in p["Statement"]]
        found: list[str] = []
        for statement in statements:
            if statement["Action"] == "execute-api:ManageConnections":
                resource = statement["Resource"]
                found += [r["Fn::Sub"] for r in (resource if isinstance(resource, list) else [resource])]
        return found

    # Then the agent login function (POST /v1/sessions/logout) knows the endpoint and may post and delete
    login = functions["AgentLoginFunction"]
    assert login["Environment"]["Variables"]["WEBSOCKET_CALLBACK_URL"] == {
        "Fn::Sub": "https://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/${Stage}"
    }
    assert sorted(r.rsplit("/", 3)[-3] for r in manage_resources(login)) == ["DELETE", "POST"]
    # And besides it only the WebSocket message function may delete connections (a frame from a tab whose
    # login ended closes that tab)
    deleters = [n for n, p in functions.items() if any("/DELETE/" in r for r in manage_resources(p))]
    assert sorted(deleters) == ["AgentLoginFunction", "WsMessageFunction"]


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--table", TABLE, "--stage", STAGE, *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_with_a_callback_url_that_is_not_one_fails_before_revoking(
    gateway: FakeManagementApi, tabs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an endpoint that answers GetConnection of an unknown id as if it existed (not @connections)
    monkeypatch.setattr(gateway, "get_connection", lambda ConnectionId: {})
    epoch = sessions.verify(tabs["first"]).epoch
    # When the operator revokes demo/101's sessions through it
    code, out, err = _cli(
        "agent", "update", "demo", "101", "--revoke-sessions", "--ws-callback-url", CALLBACK_URL
    )
    # Then the command fails, says why, and revoked nothing (the operator can run it again, right)
    assert code == 2
    assert "WS_CALLBACK_URL_INVALID" in err
    assert "told" not in out
    assert sessions.verify(tabs["first"]).epoch == epoch
    assert gateway.closed == []


def test_cli_counts_only_the_tabs_really_told_and_closed(
    gateway: FakeManagementApi, tabs: dict[str, str]
) -> None:
    # Given tab a gone without its $disconnect, b that cannot be closed (throttled), c fine
    gateway.open.discard("a")
    gateway.fail_close.add("b")
    # When the operator revokes demo/101's sessions
    code, out, err = _cli(
        "agent", "update", "demo", "101", "--revoke-sessions", "--ws-callback-url", CALLBACK_URL
    )
    # Then the report says what happened, and the command fails for the tab left open
    assert "Open webphone tabs of those sessions: 3; told 2, closed 1, already gone 1, NOT closed 1" in out
    assert code == 1
    assert "1 open tab(s) of demo/101 could not be closed" in err
    # And --json says the same
    gateway.fail_close.clear()
    code, out, err = _cli("agent", "remove", "demo", "102", "--ws-callback-url", CALLBACK_URL, "--json")
    assert code == 0, err
    assert json.loads(out)["tabs"] == {
        "found": 1,
        "told": 1,
        "closed": 1,
        "gone": 0,
        "failed": 0,
        "pushed": True,
    }


def test_a_frame_from_a_tab_whose_login_ended_is_refused_and_the_tab_closed(
    gateway: FakeManagementApi, tabs: dict[str, str], ws_message: Any
) -> None:
    # Given the first login of demo/101 ended without reaching its tabs a and b (as when the logout ran
    # while a tab was connecting): its token and login are gone, the tabs still recorded
    assert sessions.revoke(tabs["first"]) is not None
    assert {"a", "b"} <= {c.connection_id for c in connections.for_agent("demo", "101")}
    # When tab a sends a frame that acts for the agent
    ws_message("a", {"action": "status", "ready": False})
    # Then it is refused, told why and closed, and no longer recorded; the state did not change
    assert [f["type"] for f in gateway.frames["a"]][-2:] == ["error", "session.revoked"]
    assert gateway.frames["a"][-2]["code"] == "SESSION_REVOKED"
    assert "a" in gateway.closed
    assert "a" not in {c.connection_id for c in connections.for_agent("demo", "101")}
    assert presence.get_state("demo", "101").ready is not False
    # And a tab of the agent's other login (c) still acts
    ws_message("c", {"action": "status", "ready": False})
    assert gateway.types("c")[-1] == "status"
    assert presence.get_state("demo", "101").ready is False
    # And a ping, which acts for nobody, is answered without a check
    ws_message("b", {"action": "ping", "id": "1"})
    assert gateway.types("b")[-1] == "pong"


def test_a_frame_after_the_agents_sessions_were_revoked_is_refused(
    gateway: FakeManagementApi, tabs: dict[str, str], ws_message: Any, admin: TenantAdmin
) -> None:
    # Given demo/101's sessions revoked by bumping its epoch, its tabs not reached
    admin.repository.bump_session_epoch("demo", "101")
    # When its tab c sends a frame
    ws_message("c", {"action": "sync"})
    # Then it is refused and closed
    assert gateway.frames["c"][-2]["code"] == "SESSION_REVOKED"
    assert "c" in gateway.closed
