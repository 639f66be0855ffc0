"""Browser tests of the webphone: Playwright (sync API) driving Debian's Chromium against the real local
stack, with Kamailio (SIP over WebSocket) and sipp on loopback.

One local stack, one Kamailio and one Chromium serve the whole session; each test gets a fresh browser
context (a new tab with empty storage) at 360 px wide, as in a CRM sidebar. Screenshots go to
test-output/screenshots/. A missing Chromium, Kamailio or sipp fails the tests (they never skip).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from ctibridge import keys
from tests.support.local_stack import RunningStack, start_stack
from tests.support.ports import free_port
from tests.support.sip_server import Kamailio, Sipp, start_kamailio, start_sipp

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    # WebRTC without a microphone or a permission prompt; sounds without a click.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
PHONE_VIEWPORT: ViewportSize = {"width": 360, "height": 740}
DEMO_SECRET = "demo-secret"
DEMO_API_KEY = "demo-api-key"
# The CRM's answer for this caller (screen pop): tests assert the name on the popup.
CRM_CUSTOMER = {"name": "Nguyễn Văn An", "url": "https://crm.example.com/contacts/42", "id": "42"}
CRM_CUSTOMER_PHONE = "0901234567"
CRM_CUSTOMER_PHONE_SHOWN = "0901 234 567"  # as Vietnamese users write a mobile number (4-3-3)
# The session lives 126 s, so each page refreshes its token 6 s after login (2 min ahead of expiry).
SESSION_TTL_SECONDS = 126
TENANT_CACHE_TTL_SECONDS = 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


# ---------------------------------------------------------------- servers


class _FakeCrm(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        phone = (query.get("phone") or [""])[0]
        if phone.endswith(CRM_CUSTOMER_PHONE[-9:]):
            body = json.dumps(CRM_CUSTOMER).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="session")
def fake_crm() -> Iterator[str]:
    """The tenant's CRM contact lookup (screen pop), on loopback."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeCrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/lookup"
    server.shutdown()


@pytest.fixture(scope="session")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    server = start_kamailio(tmp_path_factory.mktemp("kamailio"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vendor_crm_origin() -> str:
    """Where the vendor-shaped CRM page is served (`php -S`, test_vendor_crm_page): another origin, which
    the stack's CorsAllowOrigin lists, as an operator lists a CRM's."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, kamailio: Kamailio, fake_crm: str, vendor_crm_origin: str
) -> Iterator[RunningStack]:
    """The local stack, its demo tenant pointed at the test's Kamailio and CRM before anyone logs in."""
    running = start_stack(
        tmp_path_factory.mktemp("stack"),
        "--env",
        f"SESSION_TTL_SECONDS={SESSION_TTL_SECONDS}",
        # A tenant setting changed by a test (the webphone's default language) is seen within a second.
        "--env",
        f"TENANT_CACHE_TTL_SECONDS={TENANT_CACHE_TTL_SECONDS}",
        "--param",
        f"CorsAllowOrigin=http://localhost:8080,{vendor_crm_origin}",
    )
    try:
        running.client("dynamodb").update_item(
            TableName=running.table_name,
            Key={name: {"S": value} for name, value in keys.tenant("demo").items()},
            UpdateExpression="SET sip_server = :server, sip_ws_url = :ws, crm_lookup_url = :crm, "
            "crm_hosts_allowed = :hosts",
            ExpressionAttributeValues={
                ":server": {"S": kamailio.sip_server},
                ":ws": {"S": kamailio.ws_url},
                ":crm": {"S": fake_crm},
                # The test CRM is on loopback: the tenant allows its host, as for a CRM on a LAN.
                ":hosts": {"L": [{"S": urlsplit(fake_crm).netloc}]},
            },
        )
        yield running
    finally:
        running.stop()


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium (browser tests never skip)")
    launched = playwright_session.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@dataclass
class Phone:
    """One webphone tab and what it printed to its console."""

    page: Page
    context: BrowserContext
    stack: RunningStack
    console: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [line for line in self.console if line.startswith(("error:", "pageerror:"))]

    def login(self, ipphone: str = "101", *, sip: bool = True) -> Phone:
        """Log in as the CRM would, with a token in the URL fragment; wait for the bridge (and SIP)."""
        self.page.goto(f"{self.stack.web_url}/dev/login?ipphone={ipphone}")
        expect(self.page.locator("#phone-view")).to_be_visible(timeout=15_000)
        # By state, not words: the page may be in Vietnamese or English.
        expect(self.page.locator("#bridge-status")).to_have_attribute("data-state", "on", timeout=15_000)
        # and for the bridge's first word on the agent's status (the Ready toggle shows it from then on)
        expect(self.page.locator("#ready-toggle")).to_have_attribute("data-state", re.compile("^(on|off)$"))
        if sip:
            expect(self.page.locator("#sip-status")).to_have_attribute("data-state", "on", timeout=15_000)
        return self

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def open_phone(browser: Browser, stack: RunningStack) -> Iterator[Callable[..., Phone]]:
    """Open webphone tabs (each in its own context: fresh storage, like a new browser profile)."""
    opened: list[Phone] = []

    def open_(locale: str = "en-US") -> Phone:
        # The browser's language (navigator.language) picks the page's: en-US unless a test asks.
        context = browser.new_context(viewport=PHONE_VIEWPORT, device_scale_factor=1, locale=locale)
        context.grant_permissions(["microphone", "notifications"], origin=stack.web_url)
        page = context.new_page()
        phone = Phone(page, context, stack)
        page.on("console", lambda message: phone.console.append(_console_line(message)))
        page.on("pageerror", lambda error: phone.console.append(f"pageerror: {error}"))
        opened.append(phone)
        return phone

    yield open_
    for phone in opened:
        phone.context.close()


@pytest.fixture
def phone(open_phone: Callable[[], Phone]) -> Phone:
    return open_phone()


def _console_line(message: ConsoleMessage) -> str:
    return f"{message.type}: {message.text}"


# ---------------------------------------------------------------- the PBX and the CRM


@dataclass
class Pbx:
    """Seed 004's PBX webhooks against the local stack."""

    stack: RunningStack
    sent: list[str] = field(default_factory=list)

    def incoming(self, callid: str, phone: str = CRM_CUSTOMER_PHONE, extension: str = "101") -> None:
        self._get("incoming_call", callid=callid, phone=phone, extension=extension)

    def answered(
        self,
        callid: str,
        *,
        phone: str = CRM_CUSTOMER_PHONE,
        extension: str = "101",
        status: str = "ANSWERED",
        billsec: int = 11,
        recording: str = "",
    ) -> None:
        response = httpx.post(
            f"{self.stack.http_url}/wsapi/demo/call_answered",
            params={"secret": DEMO_SECRET},
            json={
                "callid": callid,
                "calldate": time.strftime("%Y-%m-%d %H:%M:%S"),
                "extension": extension,
                "phone": phone,
                "duration": billsec + 7,
                "billsec": billsec,
                "status": status,
                "recording": recording,
                "userfield": "",
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text

    def _get(self, event: str, **params: str) -> None:
        response = httpx.get(
            f"{self.stack.http_url}/wsapi/demo/{event}", params={"secret": DEMO_SECRET, **params}, timeout=10
        )
        assert response.status_code == 200, response.text
        self.sent.append(params.get("callid", ""))

    def end_all(self) -> None:
        for callid in self.sent:
            self.answered(callid, status="NO ANSWER", billsec=0)


@pytest.fixture
def pbx(stack: RunningStack) -> Iterator[Pbx]:
    driver = Pbx(stack)
    yield driver
    # Leave agent 101 idle for the next test.
    driver.end_all()


def call_the_agent(kamailio: Kamailio, tmp_path: Path, ipphone: str, *, queue: str | None = None) -> Sipp:
    """A customer's INVITE to the agent's browser phone (with X-Queue-Id when `queue` is given)."""
    keys = {"caller": CRM_CUSTOMER_PHONE}
    if queue is not None:
        keys["queue"] = queue
    return start_sipp(
        "call_agent" if queue is not None else "call_webphone",
        tmp_path,
        remote=f"127.0.0.1:{kamailio.udp_port}",
        service=ipphone,
        keys=keys,
        timeout_s=45,
    )


def unique_callid(prefix: str) -> str:
    return f"{prefix}-{time.time_ns()}"


def copy_for_readme(screenshot: Path, name: str) -> None:
    images = ROOT / "docs" / "images"
    images.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot, images / name)


def text_of(page: Page, selector: str) -> str:
    return re.sub(r"\s+", " ", page.locator(selector).inner_text()).strip()
