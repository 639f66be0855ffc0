"""Fetching recordings: the SSRF guard (addresses, DNS, redirects), pinning, caps and content checks."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctibridge.outbound_guard import forbidden_reason, host_allowed
from ctibridge.recordings.fetch import (
    RecordingFetcher,
    RecordingRefused,
    RecordingUnavailable,
    sniff_audio,
)
from ctibridge_local.pbx_simulator import make_wav

WAV = make_wav("test", 0.5)
PUBLIC = "93.184.216.34"


def resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("NXDOMAIN")
        return table[host]

    return resolve


def fetcher(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    dns: dict[str, list[str]] | None = None,
    allowed: tuple[str, ...] = (),
    **kwargs: Any,
) -> tuple[RecordingFetcher, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return (
        RecordingFetcher(
            allowed_hosts=allowed,
            resolver=resolver(dns or {"pbx.example.com": [PUBLIC]}),
            transport=httpx.MockTransport(record),
            **kwargs,
        ),
        seen,
    )


def wav(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=WAV, headers={"content-type": "audio/x-wav"})


# ---------------------------------------------------------------- which addresses are refused


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.10.0.5", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),  # AWS/GCP/Azure instance metadata
        ("169.254.170.2", "link-local"),  # ECS task metadata
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.10", "private"),
        ("fd00:ec2::254", "private"),  # the metadata service over IPv6
        ("100.64.0.1", "not-global"),  # carrier-grade NAT
        ("0.0.0.0", "private"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo whose client is 127.0.0.1
    ],
)
def test_internal_addresses_are_forbidden(address: str, reason: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@settings(deadline=None)
@given(st.ip_addresses())
def test_only_global_addresses_pass(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    # Whatever the address, the guard lets through global unicast ones only
    if forbidden_reason(address) is None:
        assert address.is_global
        assert not address.is_multicast


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/rec.wav",
        "http://[::1]:8080/rec.wav",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://metadata.internal/computeMetadata/v1/",  # resolves to link-local below
        "http://rebind.example.com/rec.wav",  # one public and one private address
        "http://0x7f000001/rec.wav",
    ],
)
def test_refuses_urls_leading_inside(url: str) -> None:
    dns = {
        "metadata.internal": ["169.254.169.254"],
        "rebind.example.com": [PUBLIC, "10.0.0.5"],
        "0x7f000001": ["127.0.0.1"],
    }
    client, seen = fetcher(wav, dns=dns)
    with pytest.raises(RecordingRefused) as refused:
        client.fetch(url)
    assert refused.value.code == "RECORDING_HOST_FORBIDDEN"
    assert not refused.value.retryable
    assert seen == []  # not a single byte sent


@pytest.mark.parametrize(
    "url", ["ftp://pbx.example.com/rec.wav", "file:///etc/passwd", "gopher://x/", "http:///x"]
)
def test_refuses_other_schemes(url: str) -> None:
    client, seen = fetcher(wav)
    with pytest.raises(RecordingRefused):
        client.fetch(url)
    assert seen == []


# ---------------------------------------------------------------- allowed hosts (config, not a hole)


def test_a_host_the_tenant_allows_may_be_internal() -> None:
    client, _ = fetcher(wav, allowed=("127.0.0.1:3002",))
    with client.fetch("http://127.0.0.1:3002/recordings/a.wav") as fetched:
        assert fetched.size == len(WAV)
    # But only that host and port
    with pytest.raises(RecordingRefused):
        client.fetch("http://127.0.0.1:3003/recordings/a.wav")
    with pytest.raises(RecordingRefused):
        client.fetch("http://127.0.0.2:3002/recordings/a.wav")


@pytest.mark.parametrize(
    ("host", "port", "entries", "allowed"),
    [
        ("pbx.lan", 80, ["pbx.lan"], True),
        ("PBX.lan", 8080, ["pbx.lan"], True),
        ("pbx.lan", 8080, ["pbx.lan:8080"], True),
        ("pbx.lan", 8081, ["pbx.lan:8080"], False),
        ("::1", 3002, ["[::1]:3002"], True),
        ("evil.pbx.lan", 80, ["pbx.lan"], False),
        ("pbx.lan", 80, [], False),
    ],
)
def test_host_allowed(host: str, port: int, entries: list[str], allowed: bool) -> None:
    assert host_allowed(host, port, entries) is allowed


# ---------------------------------------------------------------- pinning and redirects


def test_the_connection_is_pinned_to_the_checked_address() -> None:
    client, seen = fetcher(wav)
    with client.fetch("https://user:pw@pbx.example.com:8443/rec/1.wav?token=abc") as fetched:
        assert fetched.sha256 == hashlib.sha256(WAV).hexdigest()
    request = seen[0]
    # Connected to the IP that was checked, named by its host for HTTP and TLS
    assert request.url.host == PUBLIC
    assert request.url.port == 8443
    assert request.url.raw_path == b"/rec/1.wav?token=abc"
    assert request.headers["host"] == "pbx.example.com:8443"
    assert request.extensions["sni_hostname"] == "pbx.example.com"
    assert request.headers["authorization"].startswith("Basic ")  # the URL's credentials, to the PBX
    assert request.headers["accept-encoding"] == "identity"


def test_redirects_are_followed_and_every_hop_checked() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["host"] == "pbx.example.com":
            return httpx.Response(302, headers={"location": "https://cdn.example.net/r.wav"})
        return wav(request)

    client, seen = fetcher(handler, dns={"pbx.example.com": [PUBLIC], "cdn.example.net": ["93.184.216.35"]})
    with client.fetch("http://u:p@pbx.example.com/r.wav") as fetched:
        assert fetched.host == "cdn.example.net"
    assert [r.url.host for r in seen] == [PUBLIC, "93.184.216.35"]
    assert "authorization" not in seen[1].headers  # credentials stay with the PBX


@pytest.mark.parametrize(
    "location",
    ["http://169.254.169.254/latest/meta-data/", "http://localhost/x", "http://[::ffff:10.0.0.1]/x"],
)
def test_a_redirect_inside_is_refused(location: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": location})

    dns = {"pbx.example.com": [PUBLIC], "localhost": ["127.0.0.1"]}
    client, seen = fetcher(handler, dns=dns, max_redirects=1)
    with pytest.raises(RecordingRefused) as refused:
        client.fetch("http://pbx.example.com/r.wav")
    assert refused.value.code in ("RECORDING_HOST_FORBIDDEN", "RECORDING_TOO_MANY_REDIRECTS")
    assert len(seen) == 1


def test_redirects_are_capped() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "/again"})

    client, seen = fetcher(handler, max_redirects=3)
    with pytest.raises(RecordingRefused) as refused:
        client.fetch("http://pbx.example.com/r.wav")
    assert refused.value.code == "RECORDING_TOO_MANY_REDIRECTS"
    assert len(seen) == 4


# ---------------------------------------------------------------- size, type, failures


def test_a_declared_size_over_the_cap_is_refused_before_reading() -> None:
    client, _ = fetcher(
        lambda r: httpx.Response(200, content=WAV, headers={"content-type": "audio/wav"}),
        max_bytes=len(WAV) - 1,
    )
    with pytest.raises(RecordingRefused) as refused:
        client.fetch("http://pbx.example.com/r.wav")
    assert refused.value.code == "RECORDING_TOO_LARGE"


def test_an_undeclared_size_over_the_cap_is_refused_while_streaming() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([WAV, WAV, WAV]), headers={"content-type": "audio/wav"})

    client, _ = fetcher(handler, max_bytes=len(WAV) * 2)
    with pytest.raises(RecordingRefused) as refused:
        client.fetch("http://pbx.example.com/r.wav")
    assert refused.value.code == "RECORDING_TOO_LARGE"


@pytest.mark.parametrize(
    ("content_type", "content", "expected"),
    [
        ("audio/x-wav", WAV, "audio/wav"),
        ("audio/mpeg", b"ID3\x03\x00" + b"\x00" * 100, "audio/mpeg"),
        ("application/octet-stream", WAV, "audio/wav"),  # common on PBXs: sniffed
        ("", b"OggS" + b"\x00" * 100, "audio/ogg"),
        ("audio/gsm", b"\xd0" * 165, "audio/gsm"),  # no magic number, trusted by its type
    ],
)
def test_audio_is_accepted_and_typed(content_type: str, content: bytes, expected: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    client, _ = fetcher(lambda r: httpx.Response(200, content=content, headers=headers))
    with client.fetch("http://pbx.example.com/r") as fetched:
        assert fetched.content_type == expected
        assert fetched.file.read() == content


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/html", b"<html>login</html>"),
        ("application/json", b"{}"),
        ("application/octet-stream", b"MZ\x90"),
    ],
)
def test_what_is_not_audio_is_refused(content_type: str, content: bytes) -> None:
    client, _ = fetcher(
        lambda r: httpx.Response(200, content=content, headers={"content-type": content_type})
    )
    with pytest.raises(RecordingRefused) as refused:
        client.fetch("http://pbx.example.com/r")
    assert refused.value.code == "RECORDING_NOT_AUDIO"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(404, True), (429, True), (500, True), (503, True), (401, False), (403, False), (410, False)],
)
def test_http_errors_are_retryable_or_not(status: int, retryable: bool) -> None:
    client, _ = fetcher(lambda r: httpx.Response(status))
    with pytest.raises((RecordingRefused, RecordingUnavailable)) as failed:
        client.fetch("http://pbx.example.com/r.wav")
    assert failed.value.retryable is retryable
    assert failed.value.code == f"RECORDING_HTTP_{status}"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (httpx.ConnectError("refused"), "RECORDING_UNREACHABLE"),
        (httpx.ReadTimeout("slow"), "RECORDING_TIMEOUT"),
    ],
)
def test_network_failures_are_retryable(error: Exception, code: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    client, _ = fetcher(handler)
    with pytest.raises(RecordingUnavailable) as failed:
        client.fetch("http://pbx.example.com/r.wav")
    assert failed.value.code == code


def test_unknown_hosts_and_empty_files_are_retryable() -> None:
    client, _ = fetcher(wav)
    with pytest.raises(RecordingUnavailable):
        client.fetch("http://nxdomain.example.com/r.wav")
    client, _ = fetcher(lambda r: httpx.Response(200, content=b"", headers={"content-type": "audio/wav"}))
    with pytest.raises(RecordingUnavailable):
        client.fetch("http://pbx.example.com/r.wav")


def test_the_whole_download_has_a_deadline() -> None:
    ticks = iter(range(0, 1000, 30))
    client, _ = fetcher(
        lambda r: httpx.Response(200, content=iter([WAV[:100]] * 5), headers={"content-type": "audio/wav"}),
        timeout_seconds=60,
        clock=lambda: float(next(ticks)),
    )
    with pytest.raises(RecordingUnavailable) as failed:
        client.fetch("http://pbx.example.com/r.wav")
    assert failed.value.code == "RECORDING_TIMEOUT"


def test_error_messages_never_carry_the_url() -> None:
    client, _ = fetcher(lambda r: httpx.Response(403))
    with pytest.raises(RecordingRefused) as refused:
        client.fetch("http://user:topsecret@pbx.example.com/rec.wav?token=tok123")
    assert "topsecret" not in str(refused.value)
    assert "tok123" not in str(refused.value)


def test_sniffing() -> None:
    assert sniff_audio(WAV[:16]) == "audio/wav"
    assert sniff_audio(b"fLaC....") == "audio/flac"
    assert sniff_audio(b"\x00\x00\x00\x18ftypM4A ") == "audio/mp4"
    assert sniff_audio(b"<!doctype html>") is None
