"""Calls you can hear: the local stack's SIP side (Kamailio + rtpengine) between the webphone in headless
Chromium and the PBX simulator's customer (baresip), with audio measured both ways.

Chromium's microphone is a WAV file (``--use-file-for-fake-audio-capture``, a 440 Hz tone); the
customer's is the project's WAV (gliding tones, sox). In the page, ``getStats()`` of the call's
RTCPeerConnection shows what arrives (inbound-rtp audio packets and energy); at the customer, baresip
records what it hears and sox measures it (RMS). Nothing is simulated between the two: JsSIP over
WebSocket, ICE + DTLS-SRTP to rtpengine, plain RTP from rtpengine to baresip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, expect

from ctibridge_local.pbx_simulator import PbxDriver, PlayResult
from ctibridge_local.sip import sounds
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DEMO_SECRET, Phone
from tests.support.audio import RECORD_PEER_CONNECTIONS, audio_stats
from tests.support.local_stack import RunningStack, start_stack

CUSTOMER_PHONE = "0904824242"
CUSTOMER_PHONE_SHOWN = "0904 824 242"  # as the page writes a Vietnamese mobile number (4-3-3)
# totalAudioEnergy gained over a 1.5 s window that counts as hearing nothing (the tones give ~0.05-0.5)
SILENCE = 0.001


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    directory = tmp_path_factory.mktemp("sip-stack")
    running = start_stack(directory, "--sip", "auto", "--sip-dir", str(directory / "sip"))
    try:
        sip = httpx.get(f"{running.pbx_url}/sip", timeout=5).json()
        assert sip["available"], running.logs()  # the programs are installed in CI: never skip
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser(playwright_session: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    microphone = sounds.agent_voice(tmp_path_factory.mktemp("sounds") / "agent.wav")
    launched = playwright_session.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_ARGS,
            f"--use-file-for-fake-audio-capture={microphone}",
            # rtpengine's ICE candidates are on loopback, which Chromium leaves out unless told.
            "--allow-loopback-in-peer-connection",
        ],
    )
    yield launched
    launched.close()


@pytest.fixture
def agent(open_phone: Callable[[], Phone]) -> Callable[[str], Phone]:
    def login(ipphone: str) -> Phone:
        phone = open_phone()
        phone.page.add_init_script(RECORD_PEER_CONNECTIONS)
        return phone.login(ipphone)

    return login


class BackgroundCall:
    """``PbxDriver.play("answered", media=True)`` on a thread: it returns when the call is over."""

    def __init__(self, stack: RunningStack, **options: Any) -> None:
        self.driver = PbxDriver(stack.http_url, "demo", DEMO_SECRET, pbx_url=stack.pbx_url)
        self.result: PlayResult | None = None
        self.error: BaseException | None = None
        self.callid = f"media-{time.time_ns()}"
        self._thread = threading.Thread(target=self._run, kwargs=options, daemon=True)
        self._thread.start()

    def _run(self, **options: Any) -> None:
        try:
            self.result = self.driver.play("answered", callid=self.callid, media=True, **options)
        except BaseException as error:  # reported by wait()
            self.error = error

    def wait(self, timeout: float = 30) -> PlayResult:
        self._thread.join(timeout)
        self.driver.close()
        if self.error is not None:
            raise self.error
        assert self.result is not None, "the simulated call did not end"
        return self.result


def test_answered_call_carries_audio_both_ways(stack: RunningStack, agent: Callable[[str], Phone]) -> None:
    # Given agent 101's webphone registered to the local Kamailio (digest auth, the tenant's password)
    page = agent("101").page
    # When the PBX simulator plays an answered call: a real INVITE from the customer's phone
    call = BackgroundCall(stack, ring_timeout=30)
    # Then the page rings, and the agent answers
    expect(page.locator("#answer")).to_be_visible(timeout=15_000)
    expect(page.locator("#call-phone")).to_have_text(CUSTOMER_PHONE_SHOWN)
    page.click("#answer")
    # And the agent hears the customer: audio packets with energy arrive in the page
    _in_call_and_receiving(page)
    talking = _hears(page, 2.0, min_packets=50)
    assert talking["level"] > 0.01, talking
    # When the agent mutes: the customer still reaches the agent
    page.click("#mute")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    muted = _inbound_over(page, 2.5)
    assert muted["packets"] > 50, muted
    page.click("#mute")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "false")
    time.sleep(2.5)
    # When the agent puts the customer on hold: nothing comes in any more (and the agent's track is
    # muted by JsSIP, so the customer hears silence; baresip 1.0 stops its recording at a re-INVITE, so
    # that half is not measured at the customer)
    page.click("#hold")
    expect(page.locator("#hold")).to_have_attribute("aria-pressed", "true", timeout=10_000)
    time.sleep(0.5)
    held = _inbound_over(page, 2.0)
    assert held["packets"] < 5, held
    page.click("#hold")
    expect(page.locator("#hold")).to_have_attribute("aria-pressed", "false", timeout=10_000)
    time.sleep(0.5)
    resumed = _inbound_over(page, 2.0)
    assert resumed["packets"] > 50, resumed
    # When the agent hangs up
    page.click("#hangup")
    result = call.wait()
    # Then the PBX's call log has the real times, and the recording is what the customer heard
    assert result.media is not None, result.as_dict()
    assert result.media["state"] == "ended", result.as_dict()
    log = result.deliveries[-1]
    assert (log.kind, log.status, log.fields["status"]) == ("call_answered", 200, "ANSWERED"), (
        result.as_dict()
    )
    assert 12 <= log.fields["billsec"] <= 25, log.fields
    assert log.fields["duration"] >= log.fields["billsec"], log.fields
    assert result.recording, result.as_dict()
    heard = _download(result.recording)
    assert sounds.rms(heard) > 0.01, "the customer heard silence from the agent"
    # And the customer heard the agent, then nothing while muted, then the agent again
    profile = sounds.runs(sounds.loudness(heard))
    assert [sounding for sounding, _ in profile] == [True, False, True], profile
    assert all(seconds >= 1.5 for _, seconds in profile), profile


def _received(stats: dict[str, Any]) -> int:
    return int((stats.get("inbound") or {}).get("packetsReceived", 0))


def _inbound_over(page: Page, seconds: float) -> dict[str, float]:
    """What came in during the next ``seconds``: packets, energy and the level at the end."""
    before = audio_stats(page) or {}
    time.sleep(seconds)
    after = audio_stats(page) or {}
    first, last = before.get("inbound") or {}, after.get("inbound") or {}
    return {
        "packets": last.get("packetsReceived", 0) - first.get("packetsReceived", 0),
        "energy": last.get("totalAudioEnergy", 0) - first.get("totalAudioEnergy", 0),
        "level": last.get("audioLevel", 0),
        "sent": ((after.get("outbound") or {}).get("packetsSent", 0))
        - ((before.get("outbound") or {}).get("packetsSent", 0)),
    }


def _wait_for_stats(
    page: Page, check: Callable[[dict[str, Any]], bool], timeout: float = 15
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    stats = None
    while time.monotonic() < deadline:
        stats = audio_stats(page)
        if stats is not None and check(stats):
            return stats
        time.sleep(0.2)
    raise AssertionError(f"the page's audio stats never got there: {stats}")


def _in_call_and_receiving(page: Page) -> None:
    """The call is up in the page and the other side's audio has started to arrive."""
    expect(page.locator("#app")).to_have_attribute("data-call-state", "in_call", timeout=15_000)
    _wait_for_stats(page, lambda s: _received(s) > 25)


def _hears(page: Page, seconds: float, *, min_packets: int) -> dict[str, float]:
    """What the page received over ``seconds``: more than ``min_packets`` audio packets, with energy."""
    heard = _inbound_over(page, seconds)
    assert heard["packets"] > min_packets, heard
    assert heard["energy"] > 0.01, heard
    return heard


def _download(url: str) -> Path:
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200, answer.text[:200]
    assert answer.content[:4] == b"RIFF", answer.content[:64]
    path = Path(f"/tmp/heard-{time.time_ns()}.wav")
    path.write_bytes(answer.content)
    return path


def test_the_customer_hangs_up_first_after_talk_seconds(
    stack: RunningStack, agent: Callable[[str], Phone]
) -> None:
    # Given agent 101's webphone, and a customer who will hang up 6 s after the answer
    page = agent("101").page
    talk = 6
    call = BackgroundCall(stack, ring_timeout=30, talk_seconds=talk)
    expect(page.locator("#answer")).to_be_visible(timeout=15_000)
    # When the agent answers (after a ring of about a second, so duration and billsec differ)
    time.sleep(1.5)
    page.click("#answer")
    _in_call_and_receiving(page)
    # Then, without the agent doing anything, the customer's BYE ends the call in the page
    expect(page.locator("#app")).to_have_attribute("data-call-state", "ended", timeout=(talk + 10) * 1000)
    result = call.wait()
    # And the PBX's call log says who hung up and when: billsec is the talk time, duration adds the ring
    assert result.media is not None, result.as_dict()
    assert result.media["state"] == "ended", result.as_dict()
    log = result.deliveries[-1]
    assert (log.kind, log.status, log.fields["status"]) == ("call_answered", 200, "ANSWERED"), (
        result.as_dict()
    )
    assert talk - 1 <= log.fields["billsec"] <= talk + 1, log.fields
    assert log.fields["duration"] >= log.fields["billsec"] + 1, log.fields
    # And the recording is what the customer heard from the agent: not silent
    assert result.recording, result.as_dict()
    assert sounds.rms(_download(result.recording)) > 0.01, "the customer heard silence from the agent"


def test_a_wrong_sip_password_does_not_register(open_phone: Callable[[], Phone]) -> None:
    # Given the page gets agent 101's settings with a password that is not the tenant's
    phone = open_phone()
    page = phone.page

    def wrong_password(route: Route) -> None:
        answer = route.fetch()
        body = answer.json()
        if isinstance(body.get("webphone"), dict):
            body["webphone"]["password"] = "not-the-password"
        route.fulfill(response=answer, json=body)

    page.route("**/v1/agent/me", wrong_password)
    # When it logs in, Kamailio challenges the REGISTER and refuses the answer
    phone.login("101", sip=False)
    # Then the phone is not ready, and the agent is told
    expect(page.locator("#notice")).to_contain_text("could not register", timeout=15_000)
    expect(page.locator("#sip-status")).not_to_have_text("Phone ready")


def test_click_to_call_reaches_a_customer_who_answers_and_a_busy_one(
    stack: RunningStack, agent: Callable[[str], Phone]
) -> None:
    # Given agent 101's webphone (device 1, the browser)
    phone = agent("101")
    page = phone.page
    # When the agent dials a customer's number: Kamailio sends it to the simulated customers' phone
    page.fill("#dial-input", "0987654321")
    page.click("#call-button")
    # Then the customer answers, and the agent hears them
    _in_call_and_receiving(page)
    _hears(page, 1.5, min_packets=40)
    page.click("#hangup")
    expect(page.locator("#app")).not_to_have_attribute("data-call-state", "in_call", timeout=10_000)
    # When the agent dials a busy number: Kamailio sends it to the busy customer's phone (baresip)
    busy_before = _busy_phone(stack)
    page.fill("#dial-input", "0486123456")
    page.click("#call-button")
    # Then the seed's IPCC_NOT_CONNECT_CUSTOMER/486 error is shown in plain words
    expect(page.locator("#call-error")).to_have_text("The customer is busy.", timeout=15_000)
    assert phone.errors == [], phone.console
    # And the 486 came from that phone: it saw the INVITE, and Kamailio relayed its answer
    busy_after = _busy_phone(stack)
    assert busy_after["rejected"] == busy_before["rejected"] + 1, (busy_before, busy_after)
    kamailio = (stack.log_path.parent / "sip" / "kamailio.log").read_text(errors="replace")
    replies = [line for line in kamailio.splitlines() if "reply 486 " in line]
    assert any(f"from {busy_after['address']} " in line for line in replies), replies


def _busy_phone(stack: RunningStack) -> dict[str, Any]:
    busy: dict[str, Any] = httpx.get(f"{stack.pbx_url}/sip", timeout=5).json()["busy_phone"]
    return busy


def test_agent_calls_agent_both_hear_each_other_and_hold_and_mute_stop_the_media(
    agent: Callable[[str], Phone],
) -> None:
    # Given agents 101 and 102, each in a tab of their own
    alice, bob = agent("101").page, agent("102").page
    # When 101 dials 102's extension, and 102 answers
    alice.fill("#dial-input", "102")
    alice.click("#call-button")
    expect(bob.locator("#answer")).to_be_visible(timeout=15_000)
    bob.click("#answer")
    # Then both are in the call, and each hears the other (WebRTC on both sides of rtpengine)
    for page in (alice, bob):
        _in_call_and_receiving(page)
    for page in (alice, bob):
        _hears(page, 1.5, min_packets=40)
    # When 101 mutes: 102 hears nothing from 101, and 101 still hears 102
    alice.click("#mute")
    expect(alice.locator("#mute")).to_have_attribute("aria-pressed", "true")
    time.sleep(0.5)
    assert _inbound_over(bob, 1.5)["energy"] < SILENCE, "102 still hears 101 while 101 is muted"
    assert _inbound_over(alice, 1.5)["energy"] > 0.01, "101 stopped hearing 102 while muted"
    alice.click("#mute")
    expect(alice.locator("#mute")).to_have_attribute("aria-pressed", "false")
    time.sleep(0.5)
    assert _inbound_over(bob, 1.5)["energy"] > 0.01, "102 does not hear 101 after unmute"
    # When 101 puts the call on hold: the media stops both ways (each side, measured where it arrives)
    alice.click("#hold")
    expect(alice.locator("#hold")).to_have_attribute("aria-pressed", "true", timeout=10_000)
    time.sleep(0.5)
    for page, who in ((alice, "101"), (bob, "102")):
        held = _inbound_over(page, 1.5)
        assert held["energy"] < SILENCE, f"{who} still hears the other side on hold: {held}"
    # And resuming brings it back both ways
    alice.click("#hold")
    expect(alice.locator("#hold")).to_have_attribute("aria-pressed", "false", timeout=10_000)
    time.sleep(0.5)
    for page in (alice, bob):
        resumed = _inbound_over(page, 1.5)
        assert resumed["energy"] > 0.01, resumed
    alice.click("#hangup")
    expect(bob.locator("#app")).not_to_have_attribute("data-call-state", "in_call", timeout=10_000)


def test_customer_call_transferred_to_another_agent_who_hears_the_customer(
    stack: RunningStack, agent: Callable[[str], Phone]
) -> None:
    # Given a customer's call answered by agent 101, with agent 102 logged in too
    first, second = agent("101").page, agent("102").page
    call = BackgroundCall(stack, ring_timeout=30)
    expect(first.locator("#answer")).to_be_visible(timeout=15_000)
    first.click("#answer")
    expect(first.locator("#app")).to_have_attribute("data-call-state", "in_call", timeout=15_000)
    _wait_for_stats(first, lambda s: _received(s) > 25)
    # When 101 transfers the call to 102 (a REFER through Kamailio: the customer's phone calls 102)
    first.click("#transfer")
    first.fill("#transfer-target", "102")
    first.press("#transfer-target", "Enter")
    # Then 102's phone rings; 102 answers, and hears the customer; 101 is free
    expect(second.locator("#answer")).to_be_visible(timeout=15_000)
    second.click("#answer")
    expect(second.locator("#app")).to_have_attribute("data-call-state", "in_call", timeout=15_000)
    expect(first.locator("#app")).not_to_have_attribute("data-call-state", "in_call", timeout=10_000)
    _wait_for_stats(second, lambda s: _received(s) > 25)
    heard = _inbound_over(second, 1.5)
    assert heard["packets"] > 40, heard
    assert heard["energy"] > 0.01, heard
    # When 102 hangs up, the PBX's call log comes with the whole call's times
    second.click("#hangup")
    result = call.wait()
    assert result.media is not None, result.as_dict()
    assert result.media["transferred_at"] is not None, result.as_dict()
    assert result.deliveries[-1].fields["status"] == "ANSWERED", result.as_dict()
