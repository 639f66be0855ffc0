"""The real SIP check: the page registers to Kamailio over WebSocket, answers a sipp call, dials out.

What runs for real: JsSIP in headless Chromium (fake microphone) ↔ Kamailio 5.6 (websocket + registrar)
↔ sipp over UDP. REGISTER, INVITE, 180/200/ACK, BYE and the custom Call-ID of seed 004 §2.2 are real
SIP messages checked in sipp's trace. What cannot run here: media. sipp speaks neither ICE nor
DTLS-SRTP, which WebRTC requires, so its SDP only *looks* like WebRTC's (ICE credentials, a dummy DTLS
fingerprint): Chromium accepts it and answers, but no audio flows (ICE connectivity checks to sipp go
unanswered; JsSIP would end a call with "RTP Timeout" once ICE fails, ~30 s, longer than these calls).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import (
    CRM_CUSTOMER,
    CRM_CUSTOMER_PHONE,
    CRM_CUSTOMER_PHONE_SHOWN,
    Pbx,
    Phone,
    call_the_agent,
    copy_for_readme,
)
from tests.support.local_stack import RunningStack
from tests.support.sip_server import Kamailio, start_sipp


def test_page_registers_rings_and_answers_a_sip_call(
    phone: Phone, kamailio: Kamailio, pbx: Pbx, tmp_path: Path
) -> None:
    # Given agent 101's page registered to Kamailio over WebSocket
    phone.login("101")
    page = phone.page
    page.locator("#agent-name").click()  # the agent's first click turns the ring tone on
    assert re.search(r"REGISTER sip:127\.0\.0\.1 from 127\.0\.0\.1:\d+ \(ws\)", kamailio.logs())
    # When the PBX pops the call up and a customer's INVITE reaches the page (sipp → Kamailio → WS)
    callid = f"sip-{time.time_ns()}"
    pbx.incoming(callid, phone=CRM_CUSTOMER_PHONE, extension="101")
    sipp = call_the_agent(kamailio, tmp_path, "101")
    try:
        # Then the page rings: one card, the popup and the SIP call merged, with an Answer button
        expect(page.locator("#answer")).to_be_visible(timeout=15_000)
        expect(page.locator("#call-phone")).to_have_text(CRM_CUSTOMER_PHONE_SHOWN)
        expect(page.locator("#call-customer-link")).to_have_text(CRM_CUSTOMER["name"], timeout=10_000)
        expect(page.locator("#hangup")).to_have_text("Decline")
        _wait_for(lambda: "SIP/2.0 180 Ringing" in sipp.messages(), "180 Ringing at sipp", sipp.report)
        copy_for_readme(phone.screenshot("sip-ringing"), "webphone-ringing.png")
        # When the agent answers
        page.click("#answer")
        # Then the call is up: 200 OK (with a WebRTC SDP answer) went back, sipp's ACK came in
        expect(page.locator("#app")).to_have_attribute("data-call-state", "in_call", timeout=15_000)
        expect(page.locator("#call-status")).to_have_text("Connected")
        _wait_for(lambda: "SIP/2.0 200 OK" in sipp.messages(), "200 OK at sipp", sipp.report)
        assert "a=fingerprint:sha-256" in sipp.messages().split("SIP/2.0 200 OK", 1)[1]
        # And the call controls work: mute, hold and resume (re-INVITEs), and keys typed anywhere go out
        # as DTMF (as SIP INFO here: with no media path to sipp, the audio sender can't carry RFC 4733)
        for control in ("#mute", "#hold", "#transfer"):
            expect(page.locator(control)).to_be_visible()
        page.click("#mute")
        expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#mute")).to_have_text("Unmute")
        page.click("#mute")
        expect(page.locator("#mute")).to_have_attribute("aria-pressed", "false")
        page.click("#hold")
        expect(page.locator("#hold")).to_have_attribute("aria-pressed", "true", timeout=10_000)
        expect(page.locator("#call-status")).to_have_text("On hold")
        # the hold re-INVITE (sipp writes its message log a moment after it answers)
        _wait_for(
            lambda: "a=sendonly" in sipp.messages().rsplit("INVITE sip:", 1)[1], "hold at sipp", sipp.report
        )
        page.click("#hold")
        expect(page.locator("#hold")).to_have_attribute("aria-pressed", "false", timeout=10_000)
        expect(page.locator("#call-status")).to_have_text("Connected")
        page.locator("#call-phone").click()
        page.keyboard.type("12#")
        expect(page.locator("#dial-input")).to_have_value("12#")
        _wait_for(lambda: sipp.messages().count("INFO sip:") == 3, "3 DTMF INFOs at sipp", sipp.report)
        assert [line for line in sipp.messages().splitlines() if line.startswith("Signal=")] == [
            "Signal=1",
            "Signal=2",
            "Signal=#",
        ]
        phone.screenshot("sip-in-call")
        # When the agent hangs up
        page.click("#hangup")
        # Then sipp gets the BYE, and its scenario (INVITE → 200 → ACK → BYE → 200) completes
        assert sipp.wait(timeout=20) == 0, sipp.report()
        expect(page.locator("#app")).to_have_attribute("data-call-state", "ended", timeout=10_000)
        expect(page.locator("#call-status")).to_contain_text("Call ended")
    finally:
        sipp.stop()
    assert phone.errors == [], phone.console


def test_click_to_call_reaches_the_page_and_dials_with_the_custom_call_id(
    phone: Phone, stack: RunningStack, kamailio: Kamailio, tmp_path: Path
) -> None:
    # Given agent 101's page registered, and the "PSTN" (a sipp UAS behind Kamailio) ready to answer
    page = phone.page
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(str(payload))))
    phone.login("101")
    pstn = start_sipp("pstn", tmp_path, local_port=kamailio.pstn_port, timeout_s=45)
    time.sleep(0.3)
    try:
        # When the CRM's click-to-call reaches the bridge, which sends the voice tab a dial command
        request_id = f"req-{uuid.uuid4().hex[:12]}"
        call_id = f"crm-{uuid.uuid4().hex}"
        _send_to_voice_tab(
            stack,
            "101",
            {
                "type": "call.dial",
                "v": 1,
                "request_id": request_id,
                "phone": "0987654321",
                "call_id": call_id,
            },
        )
        # Then the page dials: the INVITE goes out with the CRM's Call-ID (seed 004 §2.2)
        expect(page.locator("#call-phone")).to_have_text("0987 654 321", timeout=10_000)
        _wait_for(
            lambda: "INVITE sip:0987654321@127.0.0.1" in pstn.messages(), "INVITE at the PSTN", pstn.report
        )
        invite = pstn.messages().split("INVITE sip:0987654321@127.0.0.1", 1)[1].split("\n\n", 1)[0]
        assert re.search(rf"^Call-ID: {re.escape(call_id)}\s*$", invite, re.MULTILINE), invite
        # And it rings back, then the customer answers and the call is up
        expect(page.locator("#app")).to_have_attribute("data-call-state", "in_call", timeout=15_000)
        expect(page.locator("#call-kind")).to_have_text("Outbound call")
        # When the agent hangs up
        page.click("#hangup")
        # Then the BYE carries the same Call-ID and the PSTN's scenario completes
        assert pstn.wait(timeout=20) == 0, pstn.report()
        bye = pstn.messages().split("BYE sip:", 1)[1].split("\n\n", 1)[0]
        assert f"Call-ID: {call_id}" in bye
        expect(page.locator("#app")).to_have_attribute("data-call-state", "ended", timeout=10_000)
    finally:
        pstn.stop()
    # And the page reported the outcome to the bridge: callout.result ringing, then answered
    results = [json.loads(f) for f in frames if '"callout.result"' in f]
    assert [(r["request_id"], r["status"], r["sip_code"]) for r in results] == [
        (request_id, "ringing", 180),
        (request_id, "answered", 200),
    ]


def test_callout_errors_are_shown_in_plain_words(phone: Phone) -> None:
    # Given agent 101's page registered
    phone.login("101")
    page = phone.page
    # When the agent dials a number the network answers 486 Busy Here (Kamailio: numbers 0486…)
    page.fill("#dial-input", "0486123456")
    page.click("#call-button")
    # Then the seed's IPCC_NOT_CONNECT_CUSTOMER/486 row is shown in plain words
    expect(page.locator("#call-error")).to_have_text("The customer is busy.", timeout=15_000)
    expect(page.locator("#call-status")).to_have_text("Call failed")
    phone.screenshot("callout-busy")
    assert phone.errors == [], phone.console


# ---------------------------------------------------------------- helpers


def _wait_for(check: Callable[[], bool], what: str, report: Callable[[], str], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"no {what} after {timeout} s\n{report()}")


def _send_to_voice_tab(stack: RunningStack, ipphone: str, message: dict[str, object]) -> None:
    """Push a message to the agent's voice tab through the @connections API, as the bridge does."""
    items = stack.client("dynamodb").query(
        TableName=stack.table_name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"TENANT#demo#AGENT#{ipphone}"}},
    )["Items"]
    holder = next(item["voice_connection"]["S"] for item in items if item["SK"]["S"] == "STATE")
    answer = httpx.post(f"{stack.callback_url}/@connections/{holder}", json=message, timeout=10)
    assert answer.status_code == 200, answer.text
