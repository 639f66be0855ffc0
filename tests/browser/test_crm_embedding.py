"""CRM embedding (issue 9): the demo CRM pages in Chromium, in each mode, against the local stack.

- iframe mode (seed 003): the webphone in an iframe posts OnRegistered / OnCallRinging / OnCallAnswer /
  OnCallEnd with the seed's shapes for a direct, a queue and an outbound call; the CRM's
  OutboundCallRequest dials (from the browser phone, or through click-to-call for an IP-phone agent);
- messages from a foreign origin are ignored, and nothing is posted to it;
- the VCC/3C-compatible page (custom.js written only against the seeds' names) gets csCallRinging →
  csAcceptCall → csEndCall in that order, and csCallout dials;
- transfers between two agents' pages: rejected (NOK), then accepted (OK, SIP REFER to the target).

Calls are real SIP (sipp → Kamailio → the page's JsSIP), with the PBX's popup webhook where a call has one.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import CRM_CUSTOMER_PHONE, ROOT, Pbx, Phone, call_the_agent, unique_callid
from tests.support.local_stack import RunningStack
from tests.support.sip_server import Kamailio, Sipp, start_sipp

CRM_VIEWPORT = {"width": 1200, "height": 900}
OUTBOUND_NUMBER = "0987654321"


@pytest.fixture(scope="module", autouse=True)
def sdk_bundle() -> Path:
    """webphone/ctibridge.js, rebuilt when a source is newer (make install builds it too)."""
    bundle = ROOT / "webphone" / "ctibridge.js"
    sources = [*(ROOT / "webphone" / "sdk").glob("*.js"), *(ROOT / "webphone" / "js").glob("*.js")]
    if not bundle.exists() or bundle.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        subprocess.run(["npm", "run", "--silent", "build:sdk"], cwd=ROOT, check=True, timeout=120)
    return bundle


@pytest.fixture
def open_crm(browser: Browser, stack: RunningStack) -> Iterator[Callable[[str], Phone]]:
    """Open a demo CRM page (its own context: fresh storage, microphone allowed for the stack's origin)."""
    opened: list[Phone] = []

    def open_(path: str) -> Phone:
        context = browser.new_context(viewport=CRM_VIEWPORT, locale="en-US")  # type: ignore[arg-type]
        context.grant_permissions(["microphone"], origin=stack.web_url)
        page = context.new_page()
        crm = Phone(page, context, stack)
        page.on("console", lambda message: crm.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: crm.console.append(f"pageerror: {error}"))
        opened.append(crm)
        page.goto(f"{stack.web_url}{path}")
        return crm

    yield open_
    for crm in opened:
        crm.context.close()


class _ForeignSite(BaseHTTPRequestHandler):
    """Another origin (another port): a page that frames the webphone, or sits next to it in a CRM."""

    PAGE = """<!doctype html><meta charset="utf-8"><title>not the CRM</title>
<iframe id="phone" allow="microphone; camera"></iframe>
<script>
  window.received = [];
  window.addEventListener("message", (e) => window.received.push({origin: e.origin, data: e.data}));
  const phone = document.getElementById("phone");
  phone.addEventListener("load", () => { window.phoneLoaded = true; });
  const src = new URLSearchParams(location.search).get("src");
  if (src) phone.src = src;
  window.attack = (target, login) => {
    if (login) target.postMessage({type: "ctibridge.login", token: login.token, domain: login.domain}, "*");
    target.postMessage({type: "OutboundCallRequest", data: {target: "%s"}}, "*");
    target.postMessage({type: "ctibridge.logout"}, "*");
  };
  // Framed next to the webphone inside the CRM page: try to drive it.
  if (window.parent !== window) window.attack(window.parent.frames[0], null);
</script>""".replace("%s", OUTBOUND_NUMBER)

    def do_GET(self) -> None:
        body = self.PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def foreign_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ForeignSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


# ---------------------------------------------------------------- helpers


def _wait_event(page: Page, array: str, key: str, name: str, count: int = 1, timeout: float = 20_000) -> Any:
    """The `count`-th entry of window[array] whose [key] is `name`, waiting for it."""
    page.wait_for_function(
        "([array, key, name, count]) => (window[array] || []).filter((e) => e[key] === name).length >= count",
        arg=[array, key, name, count],
        timeout=timeout,
    )
    return page.evaluate(
        "([array, key, name, count]) => window[array].filter((e) => e[key] === name)[count - 1]",
        [array, key, name, count],
    )


def _settle(page: Page, expression: str, timeout_ms: int = 15_000) -> Any:
    """Evaluate a promise-returning expression; fail (never hang) if it does not settle in time."""
    return page.evaluate(
        """([expression, timeout]) => Promise.race([
            (0, eval)(expression),
            new Promise((_, reject) => setTimeout(reject, timeout, new Error(`no answer: ${expression}`))),
        ])""",
        [expression, timeout_ms],
    )


def _names(page: Page, array: str, key: str) -> list[str]:
    return list(page.evaluate("([array, key]) => (window[array] || []).map((e) => e[key])", [array, key]))


def _sip_messages_wait(sipp: Sipp, text: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sipp.messages()
        if text in messages:
            return messages
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} at sipp after {timeout} s\n{sipp.report()}")


def _demo_token(stack: RunningStack, ipphone: str) -> dict[str, str]:
    answer = httpx.get(f"{stack.web_url}/dev/token", params={"ipphone": ipphone}, timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


# ---------------------------------------------------------------- iframe mode (seed 003)


def test_iframe_mode_posts_the_seed_events_for_direct_queue_and_outbound_calls(
    open_crm: Callable[[str], Phone], stack: RunningStack, kamailio: Kamailio, pbx: Pbx, tmp_path: Path
) -> None:
    # Given the demo CRM's iframe page: the webphone framed with allow="microphone; camera", logged in by
    # the CRM's postMessage on load
    crm = open_crm("/demo-crm/iframe.html")
    page = crm.page
    assert page.locator("#iframeWebPhone").get_attribute("allow") == "microphone; camera"
    phone = page.frame_locator("#iframeWebPhone")
    registered = _wait_event(page, "crmEvents", "type", "OnRegistered")
    assert registered["data"]["extension"] == "101"
    assert registered["data"]["accountId"] == "demo"
    owner = registered["data"]["ownerId"]
    assert owner
    assert owner.isdigit()
    status = _wait_event(page, "crmEvents", "type", "OnStatusChanged")
    assert status["data"]["status"] in {"AVAILABLE", "NOT_AVAILABLE"}

    # When a customer's call rings the agent directly (the PBX's popup, then the SIP INVITE)
    callid = unique_callid("embed-direct")
    pbx.incoming(callid, phone=CRM_CUSTOMER_PHONE, extension="101")
    sipp = call_the_agent(kamailio, tmp_path, "101")
    try:
        ringing = _wait_event(page, "crmEvents", "type", "OnCallRinging")["data"]
        # Then OnCallRinging has seed 003's direct-call shape
        assert {k: ringing[k] for k in ringing if k not in ("state", "interactionID")} == {
            "callId": callid,
            "accountId": "demo",
            "ownerId": None,
            "callerIdNumber": CRM_CUSTOMER_PHONE,
            "direction": "inbound",
            "request": None,
            "calleeIdNumber": None,
            "resourceType": "offnet-origination",
            "queueAgentInteraction": False,
        }
        assert ringing["interactionID"] == callid
        assert ringing["state"]["@c"] == ".CreateOtherLeg"
        assert ringing["state"]["ownerId"] == owner
        assert ringing["state"]["request"] == "101@127.0.0.1"
        assert (ringing["state"]["direction"], ringing["state"]["resourceType"]) == ("outbound", None)
        assert isinstance(ringing["state"]["timestamp"], int)
        # When the agent answers in the webphone
        expect(phone.locator("#answer")).to_be_visible(timeout=15_000)
        phone.locator("#answer").click()
        # Then OnCallAnswer follows, with the SIP leg's Call-ID in state.callId
        answer = _wait_event(page, "crmEvents", "type", "OnCallAnswer")["data"]
        assert answer["interactionID"] == callid
        assert answer["callId"] == callid
        assert answer["state"]["@c"] == ".AnsweringWithOtherLeg"
        assert answer["state"]["callId"]
        assert answer["state"]["callId"] != callid
        # When the agent hangs up, OnCallEnd closes the interaction
        phone.locator("#hangup").click()
        ended = _wait_event(page, "crmEvents", "type", "OnCallEnd")["data"]
        assert (ended["interactionID"], ended["state"]["@c"]) == (callid, ".Ended")
        assert sipp.wait(timeout=20) == 0, sipp.report()
    finally:
        sipp.stop()

    # When a call from queue "q-sales" rings the agent (the PBX names the queue in X-Queue-Id)
    sipp = call_the_agent(kamailio, tmp_path, "101", queue="q-sales")
    try:
        queued = _wait_event(page, "crmEvents", "type", "OnCallRinging", count=2)["data"]
        # Then OnCallRinging has the seed's queue shape
        assert queued["queueAgentInteraction"] is True
        assert (queued["direction"], queued["ownerId"], queued["callerIdNumber"]) == (
            "outbound",
            owner,
            CRM_CUSTOMER_PHONE,
        )
        assert queued["request"] == "101@127.0.0.1"
        assert queued["callId"]
        assert queued["state"] | {"timestamp": 0} == {
            "@c": ".QueueAgentConnecting",
            "timestamp": 0,
            "agentId": owner,
            "queueId": "q-sales",
            "memberCallId": None,
        }
        expect(phone.locator("#answer")).to_be_visible(timeout=15_000)
        phone.locator("#answer").click()
        queued_answer = _wait_event(page, "crmEvents", "type", "OnCallAnswer", count=2)["data"]
        assert queued_answer["state"]["@c"] == ".QueueAgentConnected"
        assert queued_answer["request"] is None
        assert queued_answer["interactionID"] == queued["interactionID"]
        phone.locator("#hangup").click()
        _wait_event(page, "crmEvents", "type", "OnCallEnd", count=2)
        assert sipp.wait(timeout=20) == 0, sipp.report()
    finally:
        sipp.stop()

    # When the CRM asks for a call out (seed 003's OutboundCallRequest from its click-to-call button)
    pstn = start_sipp("pstn", tmp_path, local_port=kamailio.pstn_port, timeout_s=45)
    time.sleep(0.3)
    try:
        page.locator(f'[data-call="{OUTBOUND_NUMBER}"]').click()
        # Then the webphone dials it
        _sip_messages_wait(pstn, f"INVITE sip:{OUTBOUND_NUMBER}@127.0.0.1")
        # And the CRM gets the seed's outbound shapes: ringing, then answered by the customer
        out = _wait_event(page, "crmEvents", "type", "OnCallRinging", count=3)["data"]
        assert {
            k: out[k] for k in ("ownerId", "callerIdNumber", "direction", "request", "calleeIdNumber")
        } == {
            "ownerId": owner,
            "callerIdNumber": "101",
            "direction": "inbound",
            "request": f"{OUTBOUND_NUMBER}@127.0.0.1",
            "calleeIdNumber": None,
        }
        assert out["state"]["resourceType"] == "offnet-termination"
        assert out["state"]["@c"] == ".CreateOtherLeg"
        out_answer = _wait_event(page, "crmEvents", "type", "OnCallAnswer", count=3)["data"]
        assert out_answer["calleeIdNumber"] == OUTBOUND_NUMBER
        assert out_answer["interactionID"] == out["interactionID"] == out["callId"]
        assert out_answer["state"]["@c"] == ".AnsweringWithOtherLeg"
        phone.locator("#hangup").click()
        _wait_event(page, "crmEvents", "type", "OnCallEnd", count=3)
        assert pstn.wait(timeout=20) == 0, pstn.report()
    finally:
        pstn.stop()
    # And each call event came once, in order
    calls = [name for name in _names(page, "crmEvents", "type") if name.startswith("OnCall")]
    assert calls == ["OnCallRinging", "OnCallAnswer", "OnCallEnd"] * 3
    assert crm.errors == [], crm.console


def test_iframe_outbound_call_request_on_an_ip_phone_agent_goes_through_click_to_call(
    open_crm: Callable[[str], Phone], stack: RunningStack
) -> None:
    # Given seed 003's CRM page framing the webphone of agent 101, whose calls ring on an IP phone
    crm = open_crm("/demo-crm/iframe.html")
    page = crm.page
    _wait_event(page, "crmEvents", "type", "OnRegistered")
    phone = page.frame_locator("#iframeWebPhone")
    phone.locator("#tab-settings").click()
    phone.locator('input[name=device][value="2"]').check()
    phone.locator("#device-form button[type=submit]").click()
    expect(phone.locator("#sip-status")).to_have_text("IP phone", timeout=10_000)
    httpx.delete(f"{stack.pbx_url}/_requests", timeout=10)
    try:
        # When the CRM posts OutboundCallRequest, exactly as the seed's sample does
        page.locator(f'[data-call="{OUTBOUND_NUMBER}"]').click()
        # Then the bridge's click-to-call asks the PBX to ring the agent's IP phone and dial the number
        deadline = time.monotonic() + 15
        placed: list[dict[str, Any]] = []
        while not placed and time.monotonic() < deadline:
            requests = httpx.get(f"{stack.pbx_url}/_requests", timeout=10).json()["requests"]
            placed = [r for r in requests if r["params"].get("phone") == OUTBOUND_NUMBER]
            time.sleep(0.2)
        assert placed, "no click2call.php request at the PBX"
        assert placed[0]["params"]["extension"] == "101"
        # And the CRM hears the end of that call (the PBX's call log), never OnCallFailed
        ended = _wait_event(page, "crmEvents", "type", "OnCallEnd")["data"]
        assert ended["interactionID"] == placed[0]["callid"]
        assert "OnCallFailed" not in _names(page, "crmEvents", "type")
    finally:
        # Agent 101 rings in the browser again for the other tests
        phone.locator('input[name=device][value="1"]').check()
        phone.locator("#device-form button[type=submit]").click()
        expect(phone.locator("#sip-status")).to_have_text("Phone ready", timeout=15_000)
    assert crm.errors == [], crm.console


def test_messages_from_a_foreign_origin_are_ignored_and_nothing_is_posted_to_it(
    open_crm: Callable[[str], Phone], browser: Browser, stack: RunningStack, foreign_origin: str
) -> None:
    # Given the demo CRM's iframe page, its webphone logged in and registered
    crm = open_crm("/demo-crm/iframe.html")
    page = crm.page
    _wait_event(page, "crmEvents", "type", "OnRegistered")
    # When a frame of another origin inside the CRM page posts OutboundCallRequest (and a logout) to it
    page.evaluate(
        "(src) => { const f = document.createElement('iframe'); f.src = src; document.body.append(f); }",
        f"{foreign_origin}/sibling.html",
    )
    page.wait_for_timeout(1500)
    # Then the webphone ignored them: no call, still logged in
    phone = page.frame_locator("#iframeWebPhone")
    expect(phone.locator("#call-card")).to_be_hidden()
    expect(phone.locator("#phone-view")).to_be_visible()
    assert not [
        n for n in _names(page, "crmEvents", "type") if n.startswith("OnCall") or n == "OnUnregistered"
    ]

    login = _demo_token(stack, "101")
    context = browser.new_context(viewport=CRM_VIEWPORT)  # type: ignore[arg-type]
    try:
        foreign = context.new_page()
        console: list[str] = []
        foreign.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        # When a foreign page frames the webphone claiming to be the CRM (?origin= the allowed origin)
        # and posts a valid login token and a call request
        foreign.goto(
            f"{foreign_origin}/evil.html?src={quote(f'{stack.web_url}/?origin={stack.web_url}', safe='')}"
        )
        foreign.wait_for_function("() => window.phoneLoaded === true")
        foreign.evaluate(
            "(login) => window.attack(document.getElementById('phone').contentWindow, login)", login
        )
        foreign.wait_for_timeout(2000)
        # Then the webphone did not log in (the browser says who frames it: not the declared origin)
        framed = foreign.frame_locator("#phone")
        expect(framed.locator("#login-view")).to_be_visible()
        expect(framed.locator("#phone-view")).to_be_hidden()
        assert any("not " + stack.web_url in line for line in console), console

        # When it frames the webphone under its own name (an origin the tenant did not allow)
        foreign.goto(
            f"{foreign_origin}/evil.html?src={quote(f'{stack.web_url}/?origin={foreign_origin}', safe='')}"
        )
        foreign.wait_for_function("() => window.phoneLoaded === true")
        foreign.evaluate(
            "(login) => window.attack(document.getElementById('phone').contentWindow, login)", login
        )
        # Then the webphone logs in only to learn the tenant's origins, refuses to run there, and says why
        framed = foreign.frame_locator("#phone")
        expect(framed.locator("#login-error")).to_contain_text("can't run inside", timeout=15_000)
        expect(framed.locator("#phone-view")).to_be_hidden()
        # And the foreign page never received a single message from it
        foreign.wait_for_timeout(500)
        assert foreign.evaluate("() => window.received") == []
    finally:
        context.close()
    assert crm.errors == [], crm.console


# ---------------------------------------------------------------- the SDK's modern API


def test_the_sdk_page_uses_the_modern_api_with_events_and_promises(
    open_crm: Callable[[str], Phone], kamailio: Kamailio, tmp_path: Path
) -> None:
    # Given the demo CRM's SDK page: CTIBridge.init({token, domain}) resolved, the phone registered
    crm = open_crm("/demo-crm/sdk.html?ipphone=101")
    page = crm.page
    _wait_event(page, "crmEvents", "name", "ready")
    page.wait_for_function("() => CTIBridge.status.registered", timeout=15_000)
    assert page.evaluate("() => [CTIBridge.agent.ipphone, CTIBridge.status.voice]") == ["101", True]
    # When a customer calls
    sipp = call_the_agent(kamailio, tmp_path, "101")
    try:
        # Then on('ringing') gets the call
        ringing = _wait_event(page, "crmEvents", "name", "ringing")["args"][0]
        assert (ringing["phone"], ringing["direction"], ringing["state"]) == (
            CRM_CUSTOMER_PHONE,
            "inbound",
            "ringing",
        )
        # And answer() and hangup() are promises that settle with the call's state
        _sip_messages_wait(sipp, "SIP/2.0 180 Ringing")
        assert _settle(page, "CTIBridge.answer().then((call) => call.state)") == "in_call"
        assert page.evaluate("() => CTIBridge.currentCall.sipCallId") == ringing["sipCallId"]
        assert _settle(page, "CTIBridge.hangup().then((call) => call.state)") == "ended"
        assert sipp.wait(timeout=20) == 0, sipp.report()
    finally:
        sipp.stop()
    assert [n for n in _names(page, "crmEvents", "name") if n in {"ringing", "answered", "ended"}] == [
        "ringing",
        "answered",
        "ended",
    ]
    # And a command that cannot be served rejects with a stable code (the seeds' call-out table)
    assert _settle(page, "CTIBridge.call('12ab').catch((e) => e.code)") == "ERROR_CALLOUT_CONNECT"
    assert _settle(page, "CTIBridge.answer().catch((e) => e.code)") == "NO_CALL"
    assert _settle(page, "CTIBridge.transferToAgent('102').catch((e) => e.code)") == "NOT_IN_A_CALL"
    # And compat functions CTI Bridge cannot honour say so on the console, never silently
    page.evaluate("() => { saveCredentials(); changeDevice(4); }")
    page.wait_for_timeout(200)
    assert (
        "error: CTIBridge: saveCredentials is not supported: SIP credentials are never stored in the browser;"
        " the bridge delivers them at login." in crm.console
    )
    assert any(line.startswith("error: CTIBridge: changeDevice(4) is not supported:") for line in crm.console)
    assert len(crm.errors) == 2, crm.console


def test_an_alohub_jsphone_page_dials_with_onCall(
    open_crm: Callable[[str], Phone], kamailio: Kamailio, tmp_path: Path
) -> None:
    # Given the JSPhone-style page: logged in with the CRM's token, onRegister() took voice in this tab
    crm = open_crm("/demo-crm/alohub.html?ipphone=101")
    page = crm.page
    page.wait_for_function("() => CTIBridge.status.registered", timeout=20_000)
    pstn = start_sipp("pstn", tmp_path, local_port=kamailio.pstn_port, timeout_s=45)
    time.sleep(0.3)
    try:
        # When the agent types a number and clicks Call (onCall(), the number from #txtPhoneNumber)
        page.fill("#txtPhoneNumber", OUTBOUND_NUMBER)
        page.click("#btnClickCall")
        # Then it dials, the JSPhone markup shows the call, then the answered call with its timer
        _sip_messages_wait(pstn, f"INVITE sip:{OUTBOUND_NUMBER}@127.0.0.1")
        expect(page.locator("#alohub_answer_content")).to_be_visible(timeout=15_000)
        expect(page.locator("#txtPhoneAnswer")).to_have_text(OUTBOUND_NUMBER)
        expect(page.locator("#txtCallTime")).to_contain_text("00 : 00 :")
        # When the agent hangs up (onHangUp())
        page.click("#btnHangUp")
        assert pstn.wait(timeout=20) == 0, pstn.report()
        expect(page.locator("#alohub_call_dial")).to_be_visible()
    finally:
        pstn.stop()
    assert crm.errors == [], crm.console


# ---------------------------------------------------------------- the VCC/3C names (seeds 001/002)


def test_a_vcc_3c_page_gets_ringing_accept_end_in_order_and_csCallout_dials(
    open_crm: Callable[[str], Phone], kamailio: Kamailio, pbx: Pbx, tmp_path: Path
) -> None:
    # Given the CRM page written against the seeds' names: ctibridge.js + custom.js, csInit in <head>
    crm = open_crm("/demo-crm/vcc.html?ipphone=101")
    page = crm.page
    _wait_event(page, "csEvents", "name", "csInitComplete")
    # csInitComplete enabled voice as the seed demo does; the SDK's phone registers in this tab
    assert _wait_event(page, "csEvents", "name", "csShowEnableVoice")["args"] == [True]
    page.wait_for_function("() => window.CTIBridge.status.registered", timeout=15_000)
    assert page.evaluate("() => csVoice.enableVoice") is True
    assert _wait_event(page, "csEvents", "name", "csShowCallStatus")["args"][0] in {"Online", "Offline"}

    # When a customer calls agent 101 (the PBX's popup and the SIP INVITE)
    callid = unique_callid("vcc")
    pbx.incoming(callid, phone=CRM_CUSTOMER_PHONE, extension="101")
    sipp = call_the_agent(kamailio, tmp_path, "101")
    try:
        # Then csCallRinging(phone) and csCurrentCallId(callId)
        assert _wait_event(page, "csEvents", "name", "csCallRinging")["args"] == [CRM_CUSTOMER_PHONE]
        assert _wait_event(page, "csEvents", "name", "csCurrentCallId")["args"] == [callid]
        assert page.evaluate("() => [csVoice.hasCall, csVoice.isRinging, getCurrentCallId()]") == [
            True,
            True,
            callid,
        ]
        # When the agent answers with the seed's onAcceptCall() (SIP answered once the INVITE is here)
        _sip_messages_wait(sipp, "SIP/2.0 180 Ringing")
        page.click("#btn-answer")
        # Then csAcceptCall
        _wait_event(page, "csEvents", "name", "csAcceptCall")
        _sip_messages_wait(sipp, "SIP/2.0 200 OK")
        assert page.evaluate("() => csVoice.isAnswering") is True
        # When the agent ends it with endCall()
        page.click("#btn-end")
        # Then csEndCall, and the customer got the BYE
        _wait_event(page, "csEvents", "name", "csEndCall")
        assert sipp.wait(timeout=20) == 0, sipp.report()
    finally:
        sipp.stop()
    call_events = [
        n for n in _names(page, "csEvents", "name") if n in {"csCallRinging", "csAcceptCall", "csEndCall"}
    ]
    assert call_events == ["csCallRinging", "csAcceptCall", "csEndCall"]
    assert page.evaluate("() => csVoice.hasCall") is False

    # When the CRM calls a customer with csCallout(number)
    pstn = start_sipp("pstn", tmp_path, local_port=kamailio.pstn_port, timeout_s=45)
    time.sleep(0.3)
    try:
        page.fill("#phoneNumber", OUTBOUND_NUMBER)
        page.click("#btn-callout")
        # Then it dials from this tab's browser phone, showCalloutInfo(number), then csCustomerAccept
        _sip_messages_wait(pstn, f"INVITE sip:{OUTBOUND_NUMBER}@127.0.0.1")
        assert _wait_event(page, "csEvents", "name", "showCalloutInfo")["args"] == [OUTBOUND_NUMBER]
        _wait_event(page, "csEvents", "name", "csCustomerAccept")
        assert page.evaluate("() => csVoice.isCallout") is True
        page.click("#btn-end")
        _wait_event(page, "csEvents", "name", "csEndCall", count=2)
        assert pstn.wait(timeout=20) == 0, pstn.report()
    finally:
        pstn.stop()
    # And a wrong number is refused as cs_voice.js refuses it, without dialing
    page.evaluate("() => csCallout('12ab')")
    assert _wait_event(page, "csEvents", "name", "showCalloutError")["args"] == [
        "ERROR_CALLOUT_CONNECT",
        None,
    ]
    # And custom.js's missing csShowDeviceType was skipped quietly: no error on the console
    assert crm.errors == [], crm.console


def test_transfer_to_another_agent_rejected_then_accepted(
    open_crm: Callable[[str], Phone], kamailio: Kamailio, pbx: Pbx, tmp_path: Path
) -> None:
    # Given agents 101 and 102 on the VCC/3C page, each with the browser phone in its tab
    first = open_crm("/demo-crm/vcc.html?ipphone=101")
    second = open_crm("/demo-crm/vcc.html?ipphone=102")
    for crm in (first, second):
        crm.page.wait_for_function("() => window.CTIBridge.status.registered", timeout=20_000)
    a, b = first.page, second.page
    # And 101 in a call with a customer
    callid = unique_callid("transfer")
    pbx.incoming(callid, phone=CRM_CUSTOMER_PHONE, extension="101")
    sipp = call_the_agent(kamailio, tmp_path, "101", queue="q-support")
    try:
        _wait_event(a, "csEvents", "name", "csCallRinging")
        _sip_messages_wait(sipp, "SIP/2.0 180 Ringing")
        a.click("#btn-answer")
        _wait_event(a, "csEvents", "name", "csAcceptCall")
        # When 101 lists the agents a call can go to (getTransferAgent)
        a.click("#btn-agents")
        agents = _wait_event(a, "csEvents", "name", "csListTransferAgent")["args"][0]
        # Then 102 is there, and not 101 itself
        assert [agent["ipphone"] for agent in agents] == ["102"]

        # When 101 transfers to 102 (csTransferCallAgent) and 102 rejects (responseTransferAgent(0))
        a.click("#btn-transfer")
        offer = _wait_event(b, "csEvents", "name", "csNewCallTransferRequest")["args"][0]
        assert (offer["dropAgentId"], offer["phone"], offer["callId"]) == ("101", CRM_CUSTOMER_PHONE, callid)
        b.click("#btn-transfer-reject")
        # Then 101 hears NOK, and the call stays with 101
        assert _wait_event(a, "csEvents", "name", "csTransferCallResponse")["args"] == ["NOK"]
        assert "REFER sip:" not in sipp.messages()
        # and 102's page hears its request closed (the vendors' demo disables its buttons there)
        assert _wait_event(b, "csEvents", "name", "csTransferCallResponse")["args"] == ["NOK"]

        # When 101 asks again and 102 accepts (responseTransferAgent(1))
        a.click("#btn-transfer")
        _wait_event(b, "csEvents", "name", "csNewCallTransferRequest", count=2)
        b.click("#btn-transfer-accept")
        # Then 101 hears OK and its phone transfers the call to 102 (SIP REFER), which succeeds
        assert _wait_event(a, "csEvents", "name", "csTransferCallResponse", count=2)["args"] == ["OK"]
        assert _wait_event(b, "csEvents", "name", "csTransferCallResponse", count=2)["args"] == ["OK"]
        refer = _sip_messages_wait(sipp, "REFER sip:").split("REFER sip:", 1)[1].split("\n\n", 1)[0]
        assert "Refer-To: <sip:102@127.0.0.1>" in refer, refer
        success = _wait_event(a, "csEvents", "name", "csTransferCallSuccess")["args"][0]
        assert success["ipphone"] == "102"
        assert _names(a, "csEvents", "name").count("csTransferCallError") == 0
        # And 101 leaves the call (a real PBX would have bridged the customer to 102 by now)
        a.click("#btn-end")
        _wait_event(a, "csEvents", "name", "csEndCall")
        assert sipp.wait(timeout=20) == 0, sipp.report()
    finally:
        sipp.stop()
    assert first.errors == [], first.console
    assert second.errors == [], second.console
