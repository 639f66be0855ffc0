"""A CRM written for VCC / 3C switches by changing its host name, and nothing else (issue 16).

The CRM page (tests/fixtures/vendor_crm/) is written the way the vendors' embed demos are: six scripts
from ``{host}/js/embed/``, two hidden ``<video>`` elements on ``{host}/images/320x240.ogg``, a jQuery
``custom.js`` with the unload bindings and the seeds' callbacks, a PHP ``login.php`` that POSTs the
CRM-minted JWT to ``{host}/{domain}/thirdParty/login`` with php-curl and hands the SAME JWT to
``csInit(token, domain)`` in ``<head>``. It is served by ``php -S`` on another origin, with ``{host}``
the local stack's web port: one host for the scripts, the media and the API, as the vendors have.

In real Chromium: csInitComplete, csCallRinging(phone) on the PBX's incoming_call, csEndCall on its
call_answered, the page's own call-out button (``csCallout($('#phoneNumber').val())``) reaching the
agent's IP phone (the PBX simulator's click2call.php), and no page error.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Response, expect

from ctibridge_local.moto_backend import wait_for_port
from tests.browser.conftest import CRM_CUSTOMER_PHONE, DEMO_SECRET, ROOT, Phone, unique_callid
from tests.support.local_stack import RunningStack

FIXTURE = ROOT / "tests" / "fixtures" / "vendor_crm"
AGENT = "102"  # 101 is the other browser tests' agent
OUTBOUND_NUMBER = "0987654321"
CRM_VIEWPORT = {"width": 900, "height": 700}


@pytest.fixture(scope="module")
def vendor_crm(
    stack: RunningStack, vendor_crm_origin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The CRM's own server: `php -S` on its origin, configured with the stack's web host only."""
    port = int(vendor_crm_origin.rsplit(":", 1)[1])
    env = {**os.environ, "CTI_HOST": stack.web_url, "CTI_DOMAIN": "demo", "CTI_ACCESS_KEY": "demo-access-key"}
    log = (tmp_path_factory.mktemp("php") / "php.log").open("w")
    process = subprocess.Popen(
        ["php", "-S", f"127.0.0.1:{port}", "-t", str(FIXTURE)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port("127.0.0.1", port)
        yield vendor_crm_origin
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def open_vendor_page(
    browser: Browser, stack: RunningStack, vendor_crm: str
) -> Iterator[Callable[[str], Phone]]:
    opened: list[Phone] = []

    def open_(shape: str) -> Phone:
        context = browser.new_context(viewport=CRM_VIEWPORT, locale="en-US")  # type: ignore[arg-type]
        context.grant_permissions(["microphone"], origin=vendor_crm)
        page = context.new_page()
        crm = Phone(page, context, stack)
        page.on("console", lambda message: crm.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: crm.console.append(f"pageerror: {error}"))

        def failed(response: Response) -> None:
            # Every script, media file and API call the page makes must answer.
            if response.status >= 400:
                crm.console.append(f"error: HTTP {response.status} {response.url}")

        page.on("response", failed)
        opened.append(crm)
        page.goto(f"{vendor_crm}/index.php?ipphone={AGENT}&shape={shape}")
        return crm

    yield open_
    for crm in opened:
        # The agent goes back to the browser device for the next test, as the page's unload would do.
        try:
            crm.page.evaluate("() => changeDevice(1)")
            _wait_event(crm.page, "csShowDeviceType", args=[1], timeout=10_000)
        finally:
            crm.context.close()


def _wait_event(
    page: Page, name: str, *, args: list[Any] | None = None, count: int = 1, timeout: float = 20_000
) -> Any:
    """The `count`-th csEvents entry named `name` (with these `args` if given), waiting for it."""
    page.wait_for_function(
        """([name, args, count]) => (window.csEvents || []).filter((e) => e.name === name
              && (args === null || JSON.stringify(e.args) === JSON.stringify(args))).length >= count""",
        arg=[name, args, count],
        timeout=timeout,
    )
    return page.evaluate(
        "([name, count]) => window.csEvents.filter((e) => e.name === name)[count - 1]", [name, count]
    )


def _pbx(stack: RunningStack, event: str, **params: Any) -> None:
    if event == "call_answered":
        answer = httpx.post(
            f"{stack.http_url}/wsapi/demo/call_answered",
            params={"secret": DEMO_SECRET},
            json=params,
            timeout=10,
        )
    else:
        answer = httpx.get(
            f"{stack.http_url}/wsapi/demo/{event}", params={"secret": DEMO_SECRET, **params}, timeout=10
        )
    assert answer.status_code == 200, answer.text


def _click2call_requests(stack: RunningStack) -> list[dict[str, Any]]:
    return httpx.get(f"{stack.pbx_url}/_requests", timeout=5).json()["requests"]  # type: ignore[no-any-return]


def _wait_click2call(stack: RunningStack, phone: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for request in _click2call_requests(stack):
            if request["params"].get("phone") == phone:
                return request
        time.sleep(0.2)
    raise AssertionError(f"no click2call.php request for {phone}: {_click2call_requests(stack)}")


def _the_vendor_scripts_loaded(page: Page) -> None:
    """What the CRM's code relies on from the six scripts: jQuery 3, the JsSIP global, csVoice."""
    loaded = page.evaluate(
        """() => ({
            jquery: window.jQuery && jQuery.fn.jquery,
            jssip: typeof window.JsSIP === "object" && typeof JsSIP.UA,
            csVoice: typeof window.csVoice === "object",
            unload: (jQuery._data(window, "events").unload || []).length,
            beforeunload: (jQuery._data(window, "events").beforeunload || []).length,
        })"""
    )
    assert str(loaded["jquery"]).startswith("3."), loaded
    assert loaded["csVoice"] is True
    assert (loaded["unload"], loaded["beforeunload"]) == (1, 1), loaded


def test_a_vcc_crm_page_with_only_the_host_changed_rings_ends_and_calls_out(
    open_vendor_page: Callable[[str], Phone], stack: RunningStack
) -> None:
    # Given the VCC demo's page shape, its host replaced by the bridge's web host
    crm = open_vendor_page("vcc")
    page = crm.page
    # Then csInit (in <head>, with the JWT login.php already used) completes
    _wait_event(page, "csInitComplete")
    assert page.evaluate("() => window.crmLoginStatus") == 200  # the server's thirdParty/login, same host
    _the_vendor_scripts_loaded(page)
    assert page.evaluate("() => typeof JsSIP.UA") == "function"
    # and custom.js's csInitComplete enabled voice as the demo does (its jQuery disabled the button)
    _wait_event(page, "csShowEnableVoice", args=[True])
    expect(page.locator("#enable")).to_be_disabled()
    # and the hidden <video> elements found their media on the same host
    page.wait_for_function(
        "() => ['my-video', 'peer-video'].every((id) => document.getElementById(id).readyState >= 1)",
        timeout=15_000,
    )

    # When the agent works on an IP phone (seed changeDevice(2)), and a customer calls it
    page.evaluate("() => changeDevice(2)")
    _wait_event(page, "csShowDeviceType", args=[2])
    callid = unique_callid("vendor")
    _pbx(stack, "incoming_call", phone=CRM_CUSTOMER_PHONE, extension=AGENT, callid=callid)
    # Then csCallRinging(phone), and custom.js showed it with jQuery
    assert _wait_event(page, "csCallRinging")["args"] == [CRM_CUSTOMER_PHONE]
    expect(page.locator("#phoneNo")).to_have_text(f"{CRM_CUSTOMER_PHONE} is calling...")
    crm.screenshot("vendor-crm-page-ringing")
    # When the PBX's call log arrives (call_answered)
    _pbx(
        stack,
        "call_answered",
        callid=callid,
        calldate=time.strftime("%Y-%m-%d %H:%M:%S"),
        extension=AGENT,
        phone=CRM_CUSTOMER_PHONE,
        duration=9,
        billsec=0,
        status="NO ANSWER",
        recording="",
        userfield="",
    )
    # Then csEndCall
    _wait_event(page, "csEndCall")
    expect(page.locator("#phoneNo")).to_have_text("")

    # When the agent calls a customer with the page's own button (csCallout($('#phoneNumber').val()))
    httpx.delete(f"{stack.pbx_url}/_requests", timeout=5)
    page.fill("#phoneNumber", OUTBOUND_NUMBER)
    page.click("#callout")
    # Then the call reaches the agent's IP phone: the PBX's click2call.php rings its extension
    request = _wait_click2call(stack, OUTBOUND_NUMBER)
    assert request["params"]["extension"] == AGENT
    assert request["secret_ok"] is True
    assert _wait_event(page, "showCalloutInfo")["args"] == [OUTBOUND_NUMBER]
    # and the PBX's call log of that call ends it on the page
    _wait_event(page, "csEndCall", count=2, timeout=30_000)
    crm.screenshot("vendor-crm-page")
    # And nothing failed on the page: no error, no missing script or media
    assert crm.errors == [], crm.console


@pytest.mark.parametrize("shape", ["3c", "sdk"])
def test_the_3c_shape_and_ctibridge_js_with_the_pages_own_jquery_initialise(
    open_vendor_page: Callable[[str], Phone], shape: str
) -> None:
    # Given the 3C demo's scripts (jssip-3.2.10.js), or ctibridge.js after the page's own jQuery
    crm = open_vendor_page(shape)
    page = crm.page
    # Then csInit in <head> completes and custom.js's jQuery wiring is in place
    _wait_event(page, "csInitComplete")
    _wait_event(page, "csShowEnableVoice", args=[True])
    _the_vendor_scripts_loaded(page)
    if shape == "3c":
        assert page.evaluate("() => typeof JsSIP.UA") == "function"
    # and a wrong number on the page's call-out button is refused as cs_voice.js refuses it
    page.fill("#phoneNumber", "12ab")
    page.click("#callout")
    assert _wait_event(page, "showCalloutError")["args"] == ["ERROR_CALLOUT_CONNECT", None]
    assert crm.errors == [], crm.console
