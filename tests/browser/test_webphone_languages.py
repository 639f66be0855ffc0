"""The webphone in Vietnamese and English (Chromium, 360 px): the browser's language, the tenant's default,
the agent's switch in Settings (kept on the computer), <html lang>, Vietnamese number grouping, the seed's
call-out error table in Vietnamese, and the ringing popup's screenshots for the README."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ctibridge import keys
from tests.browser.conftest import (
    CRM_CUSTOMER,
    CRM_CUSTOMER_PHONE,
    CRM_CUSTOMER_PHONE_SHOWN,
    TENANT_CACHE_TTL_SECONDS,
    Pbx,
    Phone,
    call_the_agent,
    copy_for_readme,
)
from tests.support.local_stack import RunningStack
from tests.support.sip_server import Kamailio

# What the agent sees, per language: the page's words for the same things.
WORDS = {
    "vi": {
        "bridge": "Đã kết nối",
        "sip": "Máy sẵn sàng",
        "ready": "Sẵn sàng",
        "not_ready": "Không sẵn sàng",
        "tabs": ["Bàn phím", "Lịch sử", "Cài đặt"],
        "ext": "máy lẻ 101",
        "call": "Gọi",
        "incoming": "Cuộc gọi đến",
        "ringing": "Đang đổ chuông…",
        "answer": "Nghe máy",
        "decline": "Từ chối",
        "connected": "Đang đàm thoại",
        "mute": "Tắt tiếng",
        "hold": "Giữ máy",
        "transfer": "Chuyển cuộc gọi",
        "hangup": "Gác máy",
        "ended": "Cuộc gọi đã kết thúc",
    },
    "en": {
        "bridge": "Bridge on",
        "sip": "Phone ready",
        "ready": "Ready",
        "not_ready": "Not ready",
        "tabs": ["Dial pad", "History", "Settings"],
        "ext": "ext 101",
        "call": "Call",
        "incoming": "Incoming call",
        "ringing": "Ringing…",
        "answer": "Answer",
        "decline": "Decline",
        "connected": "Connected",
        "mute": "Mute",
        "hold": "Hold",
        "transfer": "Transfer",
        "hangup": "Hang up",
        "ended": "Call ended",
    },
}


def _expect_idle_words(page: Page, language: str) -> None:
    words = WORDS[language]
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("#bridge-status")).to_have_text(words["bridge"])
    # The toggle says what its state is; that state may still change (the bridge's first state arrives
    # after the page is shown), so wait for the two to agree rather than read the state once.
    toggle = page.locator("#ready-toggle")
    deadline = time.monotonic() + 10
    while True:
        pressed = toggle.get_attribute("aria-pressed") == "true"
        shown = " ".join(toggle.inner_text().split())
        if shown == words["ready" if pressed else "not_ready"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert shown == words["ready" if pressed else "not_ready"], (pressed, shown)
    expect(page.locator("[role=tab]")).to_have_text(words["tabs"])
    expect(page.locator("#agent-ext")).to_have_text(words["ext"])
    expect(page.locator("#call-button")).to_have_text(words["call"])


def _cut_labels(page: Page) -> list[str]:
    """The labels of visible buttons that do not fit their button (clipped or spilling out at 360 px)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('button')]
            .filter((b) => b.offsetParent !== null && b.scrollWidth > b.clientWidth)
            .map((b) => b.textContent.trim())"""
    )


@pytest.mark.parametrize(("locale", "language"), [("vi-VN", "vi"), ("en-US", "en")])
def test_a_sip_call_rings_and_is_answered_in_the_browsers_language(
    open_phone: Callable[..., Phone], kamailio: Kamailio, pbx: Pbx, tmp_path: Path, locale: str, language: str
) -> None:
    # Given agent 101's page in a browser whose language is Vietnamese (then English)
    phone = open_phone(locale)
    phone.login("101")
    page = phone.page
    words = WORDS[language]
    # Then the page speaks it, and says so to the browser (<html lang>)
    _expect_idle_words(page, language)
    expect(page.locator("#sip-status")).to_have_text(words["sip"])
    page.locator("#agent-name").click()  # the agent's first click turns the ring tone on
    # When the PBX pops a call up and the customer's INVITE reaches the page
    callid = f"lang-{language}-{time.time_ns()}"
    pbx.incoming(callid, phone=CRM_CUSTOMER_PHONE, extension="101")
    sipp = call_the_agent(kamailio, tmp_path, "101")
    try:
        # Then the ringing popup is in that language, the number grouped as Vietnamese users write it
        expect(page.locator("#answer")).to_be_visible(timeout=15_000)
        expect(page.locator("#call-kind")).to_have_text(words["incoming"])
        expect(page.locator("#call-phone")).to_have_text(CRM_CUSTOMER_PHONE_SHOWN)
        expect(page.locator("#call-customer-link")).to_have_text(CRM_CUSTOMER["name"], timeout=10_000)
        expect(page.locator("#call-status")).to_have_text(words["ringing"])
        expect(page.locator("#answer")).to_have_text(words["answer"])
        expect(page.locator("#hangup")).to_have_text(words["decline"])
        assert _cut_labels(page) == []
        copy_for_readme(phone.screenshot(f"ringing-{language}"), f"webphone-ringing-{language}.png")
        # When the agent answers
        page.click("#answer")
        # Then the call controls are named in that language
        expect(page.locator("#app")).to_have_attribute("data-call-state", "in_call", timeout=15_000)
        expect(page.locator("#call-status")).to_have_text(words["connected"])
        expect(page.locator("#mute")).to_have_text(words["mute"])
        expect(page.locator("#hold")).to_have_text(words["hold"])
        expect(page.locator("#transfer")).to_have_text(words["transfer"])
        expect(page.locator("#hangup")).to_have_text(words["hangup"])
        # and each label fits its button (the page is made for a 360 px CRM sidebar)
        assert _cut_labels(page) == []
        copy_for_readme(phone.screenshot(f"in-call-{language}"), f"webphone-in-call-{language}.png")
        # When the agent hangs up
        page.click("#hangup")
        assert sipp.wait(timeout=20) == 0, sipp.report()
        expect(page.locator("#call-status")).to_contain_text(words["ended"], timeout=10_000)
    finally:
        sipp.stop()
    assert phone.errors == [], phone.console


def test_the_settings_switch_changes_the_language_at_once_and_is_kept(
    open_phone: Callable[..., Phone],
) -> None:
    # Given agent 101's page in a Vietnamese browser
    phone = open_phone("vi-VN")
    phone.login("101", sip=False)
    page = phone.page
    _expect_idle_words(page, "vi")
    # And Ready / Not ready are the call center's words
    toggle = page.locator("#ready-toggle")
    was_ready = toggle.get_attribute("aria-pressed") == "true"
    toggle.click()
    expect(toggle).to_have_text("Sẵn sàng" if not was_ready else "Không sẵn sàng", timeout=10_000)
    toggle.click()
    expect(toggle).to_have_text("Sẵn sàng" if was_ready else "Không sẵn sàng", timeout=10_000)
    page.click("#tab-settings")
    expect(page.locator("#language-select")).to_have_value("vi")
    expect(page.locator("#logout")).to_have_text("Đăng xuất")
    phone.screenshot("settings-vi")
    # When the agent chooses English in Settings
    page.select_option("#language-select", "en")
    # Then the whole page switches at once, texts set before the switch included
    _expect_idle_words(page, "en")
    expect(page.locator("#logout")).to_have_text("Log out")
    assert page.title() == "CTI Bridge webphone"
    # And the choice is kept on this computer: a reload stays in English though the browser is Vietnamese
    assert page.evaluate("() => localStorage.getItem('ctibridge.language')") == "en"
    page.reload()
    expect(page.locator("#phone-view")).to_be_visible(timeout=15_000)
    _expect_idle_words(page, "en")
    # When the agent switches back to Vietnamese
    page.click("#tab-settings")
    page.select_option("#language-select", "vi")
    # Then the page speaks Vietnamese again
    _expect_idle_words(page, "vi")
    assert page.title() == "Webphone CTI Bridge"
    assert phone.errors == []


def test_a_dial_error_and_the_seed_error_table_in_vietnamese(open_phone: Callable[..., Phone]) -> None:
    # Given agent 101's page registered, in Vietnamese
    phone = open_phone("vi-VN")
    phone.login("101")
    page = phone.page
    # When the agent dials a number that is not one
    page.fill("#dial-input", "12ab")
    page.click("#call-button")
    # Then the page says why in Vietnamese
    expect(page.locator("#dial-error")).to_have_text(
        "Sai số điện thoại: nhập từ 8 đến 13 chữ số, hoặc số máy lẻ từ 1 đến 7 chữ số."
    )
    # When the agent dials a number the network answers 486 Busy Here (Kamailio: numbers 0486…)
    page.fill("#dial-input", "0486123456")
    page.click("#call-button")
    # Then the seed's IPCC_NOT_CONNECT_CUSTOMER/486 row is shown in its own Vietnamese words
    expect(page.locator("#call-error")).to_have_text("Khách hàng đang bận.", timeout=15_000)
    expect(page.locator("#call-status")).to_have_text("Cuộc gọi không thành công")
    expect(page.locator("#call-phone")).to_have_text("0486 123 456")
    assert phone.errors == [], phone.console


@pytest.fixture
def tenant_language(stack: RunningStack) -> Iterator[Callable[[str | None], None]]:
    """Set the demo tenant's webphone language (what `ctibridge tenant update --webphone-language` stores)."""

    def set_language(language: str | None) -> None:
        key = {name: {"S": value} for name, value in keys.tenant("demo").items()}
        dynamodb = stack.client("dynamodb")
        if language is None:
            dynamodb.update_item(
                TableName=stack.table_name, Key=key, UpdateExpression="REMOVE webphone_language"
            )
        else:
            dynamodb.update_item(
                TableName=stack.table_name,
                Key=key,
                UpdateExpression="SET webphone_language = :language",
                ExpressionAttributeValues={":language": {"S": language}},
            )
        time.sleep(TENANT_CACHE_TTL_SECONDS + 0.5)  # the functions' tenant cache

    yield set_language
    set_language(None)


def test_the_tenants_default_language_applies_unless_the_agent_chose(
    open_phone: Callable[..., Phone], tenant_language: Callable[[str | None], None]
) -> None:
    # Given a call center whose webphone speaks Vietnamese by default
    tenant_language("vi")
    # When an agent with an English browser logs in
    phone = open_phone("en-US")
    phone.login("101", sip=False)
    page = phone.page
    # Then the page speaks the tenant's language
    _expect_idle_words(page, "vi")
    # When the agent chooses English in Settings
    page.click("#tab-settings")
    page.select_option("#language-select", "en")
    _expect_idle_words(page, "en")
    # Then the agent's choice wins over the tenant's default, after a reload too
    page.reload()
    expect(page.locator("#phone-view")).to_be_visible(timeout=15_000)
    page.wait_for_timeout(500)  # /v1/agent/me (the tenant's default) has come back
    _expect_idle_words(page, "en")
    assert phone.errors == []
