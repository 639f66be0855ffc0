"""The CRM lookup (screen pop) goes through the outbound address guard: internal addresses are refused
before any request is sent, unless the tenant allows the host; the connection is pinned to the checked
address.
"""

from __future__ import annotations

import io

import httpx
import pytest

from ctibridge.realtime import screen_pop
from ctibridge.tenants import repository
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli import main as cli
from tests.unit.realtime.conftest import STAGE, TABLE

PUBLIC = "93.184.216.34"
CONTACT = {"name": "Nguyen Van A", "url": "https://crm.example.com/c/42", "id": 42}
DNS = {
    "crm.example.com": [PUBLIC],
    "crm.internal": ["10.0.0.7"],  # a public-looking name that leads inside
    "metadata.example.com": ["169.254.169.254"],
    "rebind.example.com": [PUBLIC, "127.0.0.1"],  # one public address is not enough: all must be
    "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946", PUBLIC],
}


class Crm:
    """A CRM behind httpx's MockTransport: records every request that reached it."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.headers = headers or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=CONTACT, headers=self.headers)


@pytest.fixture
def crm(monkeypatch: pytest.MonkeyPatch) -> Crm:
    answer = Crm()
    client = httpx.Client(transport=httpx.MockTransport(answer), follow_redirects=False)
    monkeypatch.setattr(screen_pop, "_http", lambda: client)
    return answer


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The host names the lookup resolved (through a fake DNS: unit tests have none)."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host not in DNS:
            raise OSError("NXDOMAIN")
        return DNS[host]

    monkeypatch.setattr(screen_pop, "_resolve", resolve)
    return asked


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/lookup",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://10.1.2.3/lookup",
        "http://192.168.1.10/lookup",
        "http://[::1]/lookup",
        "http://[::ffff:169.254.169.254]/lookup",
    ],
)
def test_internal_addresses_are_refused_without_a_request(crm: Crm, resolved: list[str], url: str) -> None:
    # When a tenant's CRM lookup URL is an internal address
    contact = screen_pop.lookup(url, "0901234567", "+84901234567")
    # Then there is no contact, and nothing was sent (nor resolved: the address is literal)
    assert contact is None
    assert crm.requests == []
    assert resolved == []


@pytest.mark.parametrize(
    "url",
    ["https://crm.internal/lookup", "https://metadata.example.com/x", "https://rebind.example.com/lookup"],
)
def test_names_resolving_inside_are_refused(crm: Crm, resolved: list[str], url: str) -> None:
    assert screen_pop.lookup(url, "0901234567") is None
    assert crm.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://crm.example.com/x", "http:///x", "not a url"])
def test_other_urls_are_refused(crm: Crm, resolved: list[str], url: str) -> None:
    assert screen_pop.lookup(url, "0901234567") is None
    assert crm.requests == []


def test_an_unresolvable_host_is_no_contact(crm: Crm, resolved: list[str]) -> None:
    assert screen_pop.lookup("https://nowhere.example.com/lookup", "0901234567") is None
    assert resolved == ["nowhere.example.com"]
    assert crm.requests == []


def test_a_host_the_tenant_allows_may_be_internal(crm: Crm, resolved: list[str]) -> None:
    # Given the tenant allows its CRM on loopback port 8080 (the local stack's test CRM, a LAN CRM)
    allowed = ["127.0.0.1:8080"]
    # When looking up through it
    contact = screen_pop.lookup("http://127.0.0.1:8080/lookup", "0901234567", allowed_hosts=allowed)
    # Then the CRM is asked and answers
    assert contact is not None
    assert contact.name == "Nguyen Van A"
    assert [r.url.params["phone"] for r in crm.requests] == ["0901234567"]
    # But only that host and port
    assert screen_pop.lookup("http://127.0.0.1:8081/lookup", "0901", allowed_hosts=allowed) is None
    assert screen_pop.lookup("http://169.254.169.254/lookup", "0901", allowed_hosts=allowed) is None
    assert len(crm.requests) == 1


def test_the_request_is_pinned_to_the_checked_address(crm: Crm, resolved: list[str]) -> None:
    # When a public CRM is asked
    contact = screen_pop.lookup(
        "https://crm.example.com:8443/api/lookup?key=k1", "0901234567", "+84901234567"
    )
    # Then the connection goes to the address that was checked, named by its host for HTTP and TLS
    assert contact is not None
    (request,) = crm.requests
    assert request.url.host == PUBLIC
    assert request.url.port == 8443
    assert request.headers["host"] == "crm.example.com:8443"
    assert request.extensions["sni_hostname"] == "crm.example.com"
    # And the URL's own query is kept, with the number added
    assert dict(request.url.params) == {"key": "k1", "phone": "0901234567", "phone_e164": "+84901234567"}
    assert resolved == ["crm.example.com"]


def test_an_ipv4_address_is_preferred_when_the_name_has_both(crm: Crm, resolved: list[str]) -> None:
    # Lambda functions outside a VPC have no IPv6 route
    assert screen_pop.lookup("https://v6.example.com/lookup", "0901") is not None
    assert crm.requests[0].url.host == PUBLIC


def test_redirects_are_not_followed(monkeypatch: pytest.MonkeyPatch, resolved: list[str]) -> None:
    # Given a CRM that redirects to the metadata service
    answer = Crm(status=302, headers={"location": "http://169.254.169.254/latest/meta-data/"})
    monkeypatch.setattr(screen_pop, "_http", lambda: httpx.Client(transport=httpx.MockTransport(answer)))
    # When looked up, Then no contact, and the redirect was not followed
    assert screen_pop.lookup("https://crm.example.com/lookup", "0901") is None
    assert len(answer.requests) == 1


def test_the_real_client_ignores_environment_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy would connect on our behalf, after the address check
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setattr(screen_pop, "_client", None)
    client: httpx.Client = screen_pop._http()
    try:
        assert client.trust_env is False
        assert client.follow_redirects is False
    finally:
        client.close()
        monkeypatch.setattr(screen_pop, "_client", None)


def test_operators_allow_a_crm_host_per_tenant(admin: TenantAdmin) -> None:
    # When an operator allows the tenant's CRM on its LAN
    out, err = io.StringIO(), io.StringIO()
    argv = ["--table", TABLE, "--stage", STAGE, "tenant", "update", "demo", "--json"]
    code = cli.main(
        [*argv, "--crm-lookup-url", "http://crm.lan:8080/lookup", "--crm-host", "crm.lan:8080"],
        out=out,
        err=err,
    )
    # Then the tenant carries it, apart from the recording hosts
    assert code == 0, err.getvalue()
    repository.clear_cache()
    tenant = repository.get_by_customer("demo")
    assert tenant is not None
    assert tenant.crm_hosts_allowed == ["crm.lan:8080"]
    assert "crm.lan:8080" not in tenant.recording_hosts_allowed
