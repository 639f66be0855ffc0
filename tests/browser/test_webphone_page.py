"""The webphone page against the local stack: login, popup, history, reconnect (Chromium, 360 px)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import (
    CRM_CUSTOMER,
    CRM_CUSTOMER_PHONE,
    CRM_CUSTOMER_PHONE_SHOWN,
    DEMO_API_KEY,
    Pbx,
    Phone,
    text_of,
)
from tests.support.local_stack import RunningStack


def test_page_loads_logs_in_and_registers_without_console_errors(phone: Phone) -> None:
    # Given the webphone opened by the CRM with a login token in the URL fragment
    # When it loads
    phone.login("101")
    page = phone.page
    # Then the agent is logged in, the bridge connected and the browser phone registered (Kamailio)
    expect(page.locator("#agent-name")).to_have_text("Agent 101")
    expect(page.locator("#agent-ext")).to_have_text("ext 101")
    # And the token is gone from the address bar
    assert "#" not in page.url
    assert "token" not in page.url
    # And the page's CSP forbids inline and foreign scripts
    csp = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content") or ""
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    # And nothing secret is stored: no SIP password anywhere, no token in localStorage
    stored: dict[str, Any] = page.evaluate(
        "() => ({local: JSON.stringify({...localStorage}), session: JSON.stringify({...sessionStorage})})"
    )
    assert "sip-101" not in stored["local"] + stored["session"]  # the demo agent's SIP password
    assert "password" not in stored["local"] + stored["session"]
    assert "token" not in stored["local"]
    # And the console stayed clean
    page.wait_for_timeout(500)
    assert phone.errors == []
    phone.screenshot("idle")


def test_incoming_call_webhook_pops_up_the_caller_and_crm_customer(phone: Phone, pbx: Pbx) -> None:
    # Given agent 101 logged in
    phone.login("101")
    page = phone.page
    # When the PBX reports a call ringing 101 (seed 004 incoming_call)
    callid = f"pop-{time.time_ns()}"
    pbx.incoming(callid, phone=CRM_CUSTOMER_PHONE, extension="101")
    # Then the popup shows the caller's number and the CRM's customer, linked to the CRM record
    card = page.locator("#call-card")
    expect(card).to_be_visible(timeout=10_000)
    expect(page.locator("#call-kind")).to_have_text("Incoming call")
    expect(page.locator("#call-phone")).to_have_text(CRM_CUSTOMER_PHONE_SHOWN)
    link = page.locator("#call-customer-link")
    expect(link).to_have_text(CRM_CUSTOMER["name"], timeout=10_000)
    assert link.get_attribute("href") == CRM_CUSTOMER["url"]
    assert link.get_attribute("rel") == "noopener noreferrer"
    expect(page.locator("#app")).to_have_attribute("data-call-state", "ringing")
    phone.screenshot("ringing-popup")
    # When the PBX re-sends the ring (a retry: the bridge pops rings up before storing them)
    pbx.incoming(callid, phone=CRM_CUSTOMER_PHONE, extension="101")
    # Then it is the same popup, still ringing
    expect(page.locator("#call-phone")).to_have_count(1)
    expect(page.locator("#app")).to_have_attribute("data-call-state", "ringing")
    # When the PBX's call log says it was answered elsewhere and ended
    pbx.answered(callid, status="ANSWERED", billsec=11)
    # Then the card says so
    expect(page.locator("#call-status")).to_have_text("Call ended · answered · 0:11", timeout=10_000)
    expect(page.locator("#app")).to_have_attribute("data-call-state", "ended")
    # And a late re-sent ring of that call pops nothing up again
    pbx.incoming(callid, phone=CRM_CUSTOMER_PHONE, extension="101")
    page.wait_for_timeout(1000)
    expect(page.locator("#app")).to_have_attribute("data-call-state", "ended")
    assert phone.errors == []


def test_login_form_refresh_and_logout(phone: Phone, stack: RunningStack) -> None:
    # Given a token minted for agent 102 (the CRM's job; /dev/token plays the CRM locally)
    minted = httpx.get(f"{stack.web_url}/dev/token", params={"ipphone": "102"}, timeout=10).json()
    page = phone.page
    page.goto(stack.web_url)
    expect(page.locator("#login-view")).to_be_visible()
    # When the tester pastes it in the login form, asking to remember the domain
    page.fill("#login-domain", minted["domain"])
    page.fill("#login-token", minted["token"])
    page.check("#login-remember")
    page.click("#login-submit")
    # Then the phone comes up for agent 102
    expect(page.locator("#agent-ext")).to_have_text("ext 102", timeout=15_000)
    expect(page.locator("#bridge-status")).to_have_text("Bridge on", timeout=15_000)
    expect(page.locator("#sip-status")).to_have_text("Phone ready", timeout=15_000)
    remembered = page.evaluate("() => localStorage.getItem('ctibridge.remember')")
    assert remembered == '{"domain":"demo"}'
    first = page.evaluate("() => JSON.parse(sessionStorage.getItem('ctibridge.session')).token")
    # When the session nears its end (it lives 126 s here: refreshed 2 min ahead, i.e. after ~6 s)
    # (polled from here: the page's CSP forbids the eval behind wait_for_function's string predicates)
    deadline = time.monotonic() + 15
    token = first
    while token == first and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        token = page.evaluate("() => JSON.parse(sessionStorage.getItem('ctibridge.session')).token")
    # Then the page holds a new, working session token
    assert token != first
    me = httpx.get(f"{stack.http_url}/v1/agent/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200
    assert me.json()["agent"]["ipphone"] == "102"
    # When the agent logs out
    page.click("#tab-settings")
    page.click("#logout")
    # Then the login form is back, the phone unregistered and the session revoked
    expect(page.locator("#login-view")).to_be_visible(timeout=10_000)
    expect(page.locator("#sip-status")).to_have_text("Phone off")
    expect(page.locator("#login-domain")).to_have_value("demo")
    assert page.evaluate("() => sessionStorage.getItem('ctibridge.session')") is None
    after = httpx.get(
        f"{stack.http_url}/v1/agent/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert after.status_code == 401
    assert phone.errors == []


def test_reconnects_after_the_websocket_server_restarts(phone: Phone, stack: RunningStack, pbx: Pbx) -> None:
    # Given agent 101 logged in
    phone.login("101", sip=False)
    page = phone.page
    # When the WebSocket service restarts (every client dropped, refused for a second)
    stack.restart_websocket()
    # Then the page says it is reconnecting, with its attempt count
    notice = page.locator("#notice")
    expect(notice).to_contain_text(re.compile(r"Reconnecting to the bridge \(\d+/20\)"), timeout=10_000)
    phone.screenshot("reconnecting")
    # And it comes back by itself
    expect(page.locator("#bridge-status")).to_have_text("Bridge on", timeout=30_000)
    expect(notice).not_to_contain_text("Reconnecting")
    # And popups reach it again
    callid = f"again-{time.time_ns()}"
    pbx.incoming(callid, phone="0988777666", extension="101")
    expect(page.locator("#call-phone")).to_have_text("0988 777 666", timeout=10_000)
    # When its login is logged out from elsewhere (another tab of the login, the CRM)
    token = page.evaluate("() => JSON.parse(sessionStorage.getItem('ctibridge.session')).token")
    logout = httpx.post(
        f"{stack.http_url}/v1/sessions/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert logout.status_code == 200
    # Then the page says it was signed out (the bridge's session.revoked), and forgets the session
    expect(page.locator("#login-view")).to_be_visible(timeout=10_000)
    expect(page.locator("#login-error")).to_contain_text("signed out")
    assert page.evaluate("() => sessionStorage.getItem('ctibridge.session')") is None
    # And it does not try to reconnect with the dead token
    page.wait_for_timeout(2500)
    expect(page.locator("#bridge-status")).to_have_text("Bridge off")
    expect(notice).not_to_contain_text("Reconnecting")


def test_call_history_lists_calls_and_plays_recordings(phone: Phone, stack: RunningStack, pbx: Pbx) -> None:
    # Given a call of agent 101 whose recording the bridge fetched from the PBX and stored
    callid = f"hist-{time.time_ns()}"
    pbx.incoming(callid, phone="0911222333", extension="101")
    pbx.answered(
        callid,
        phone="0911222333",
        status="ANSWERED",
        billsec=65,
        recording=f"{stack.pbx_url}/recordings/{callid}.wav?seconds=2",
    )
    _wait_for_recording(stack, callid)
    # When the agent opens the history tab
    phone.login("101", sip=False)
    page = phone.page
    page.click("#tab-history")
    row = page.locator(f'#history-list li[data-callid="{callid}"]')
    # Then the call is listed with its number, status and talk time
    expect(row).to_be_visible(timeout=10_000)
    expect(row).to_contain_text("0911 222 333")  # grouped as Vietnamese users write it
    expect(row).to_contain_text("Answered")
    expect(row).to_contain_text("1:05")
    phone.screenshot("history")
    # When the agent plays its recording
    row.get_by_role("button", name="Play the recording").click()
    # Then the player loads the stored recording (a presigned S3 URL) and plays it
    player = page.locator("#recording-player")
    expect(player).to_be_visible()
    deadline = time.monotonic() + 10
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = player.evaluate("(a) => ({src: a.src, time: a.currentTime, error: a.error && a.error.code})")
        if state["time"] > 0 or state["error"]:
            break
        page.wait_for_timeout(200)
    assert "X-Amz-Signature" in state["src"]
    assert state["error"] is None
    assert state["time"] > 0
    assert phone.errors == []


def test_keyboard_dial_pad(phone: Phone) -> None:
    # Given the phone, idle
    phone.login("101")
    page = phone.page
    page.locator("#agent-name").click()  # focus on the page, not in a field
    # When the agent types digits anywhere on the page and deletes one
    page.keyboard.type("09012345678")
    page.keyboard.press("Backspace")
    # Then they land in the number field
    expect(page.locator("#dial-input")).to_have_value("0901234567")
    # When the number is not dialable and the agent presses Enter
    page.fill("#dial-input", "12ab")
    page.locator("#call-button").focus()
    page.keyboard.press("Enter")
    # Then the agent is told why, in plain words
    expect(page.locator("#dial-error")).to_contain_text("Wrong phone number")
    # And every key of the pad is a real button reachable with Tab
    keys = page.locator(".keys button")
    expect(keys).to_have_count(12)
    assert keys.first.evaluate("(b) => b.tabIndex") == 0


def test_incoming_call_notifies_when_the_tab_is_hidden(phone: Phone, pbx: Pbx) -> None:
    # Given the page in a background tab (visibility hidden), notifications allowed
    phone.page.add_init_script(
        """
        (() => {
          Object.defineProperty(Document.prototype, 'visibilityState', {get: () => 'hidden'});
          Object.defineProperty(Document.prototype, 'hidden', {get: () => true});
          window.__notifications = [];
          class FakeNotification {
            static permission = 'granted';
            static requestPermission() { return Promise.resolve('granted'); }
            constructor(title, options) { window.__notifications.push({title, body: options.body}); }
            close() {}
          }
          window.Notification = FakeNotification;
        })();
        """
    )
    phone.login("101", sip=False)
    # When a call rings the agent
    pbx.incoming(f"hidden-{time.time_ns()}", phone=CRM_CUSTOMER_PHONE, extension="101")
    expect(phone.page.locator("#call-card")).to_be_visible(timeout=10_000)
    # Then a desktop notification names the caller, and the title flashes
    notes = phone.page.evaluate("() => window.__notifications")
    assert notes
    assert notes[0]["title"] == "Incoming call"
    assert CRM_CUSTOMER_PHONE_SHOWN in notes[0]["body"]
    phone.page.wait_for_timeout(1000)
    assert "📞" in phone.page.title() or "📞" in _title_later(phone)


def _title_later(phone: Phone) -> str:
    phone.page.wait_for_timeout(1000)
    return phone.page.title()


def _wait_for_recording(stack: RunningStack, callid: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        answer = httpx.get(
            f"{stack.http_url}/v1/calls/{callid}", headers={"X-Api-Key": DEMO_API_KEY}, timeout=10
        )
        if answer.status_code == 200:
            state = answer.json()["recording"]["state"]
            if state == "stored":
                return
        time.sleep(0.25)
    raise AssertionError(f"recording of {callid} not stored after {timeout} s (state {state})")


__all__ = ["text_of"]


def test_voice_moves_between_tabs_and_ready_and_device_are_set(open_phone: Callable[[], Phone]) -> None:
    # Given agent 102's phone in a first tab: it holds voice, so its SIP phone is registered
    first = open_phone().login("102")
    # When the agent opens a second tab
    second = open_phone().login("102", sip=False)
    # Then that tab offers to take the phone, and doesn't register
    expect(second.page.locator("#enable-voice")).to_be_visible()
    expect(second.page.locator("#sip-status")).to_have_text("Phone off")
    # When the agent takes the phone in the second tab
    second.page.click("#enable-voice")
    # Then the second tab registers and the first one unregisters and offers to take it back
    expect(second.page.locator("#sip-status")).to_have_text("Phone ready", timeout=15_000)
    expect(first.page.locator("#sip-status")).to_have_text("Phone off", timeout=10_000)
    expect(first.page.locator("#enable-voice")).to_be_visible()
    expect(first.page.locator("#voice-holder")).to_have_text("The phone is on in another tab.")
    # When the agent goes Not ready in one tab
    expect(second.page.locator("#ready-toggle")).to_have_text("Ready")
    second.page.click("#ready-toggle")
    # Then every tab shows it
    expect(first.page.locator("#ready-toggle")).to_have_text("Not ready", timeout=10_000)
    expect(first.page.locator("#ready-toggle")).to_have_attribute("aria-pressed", "false")
    # When the agent has calls ring on the mobile (device 3) instead of the browser
    second.page.click("#tab-settings")
    second.page.check('input[name=device][value="3"]')
    second.page.fill("#device-mobile", "0912345678")
    second.screenshot("settings")
    second.page.click("#device-form button[type=submit]")
    # Then the browser phone unregisters in the voice tab, and both tabs show the device
    expect(second.page.locator("#sip-status")).to_have_text("Mobile", timeout=10_000)
    expect(first.page.locator("#sip-status")).to_have_text("Mobile", timeout=10_000)
    # When it is set back to the browser, and the agent is ready again
    second.page.check('input[name=device][value="1"]')
    second.page.click("#device-form button[type=submit]")
    second.page.click("#ready-toggle")
    # Then the voice tab registers again
    expect(second.page.locator("#sip-status")).to_have_text("Phone ready", timeout=15_000)
    expect(first.page.locator("#ready-toggle")).to_have_text("Ready", timeout=10_000)
    assert first.errors == []
    assert second.errors == []
