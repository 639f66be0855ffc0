"""Downloading a recording from a PBX, with an SSRF guard.

The recording URL comes from the PBX webhook, i.e. from the internet: without a guard it could make us
read cloud metadata (169.254.169.254), our own services on loopback, or a private network. So:

* only ``http``/``https``; the host is resolved once and EVERY address it resolves to must be public
  (not loopback, private, link-local, CGNAT, multicast, reserved, unspecified, nor one of those hidden
  in IPv4-mapped, 6to4, Teredo or NAT64 IPv6 addresses) — unless the tenant lists the host in
  ``recording_hosts_allowed`` (a PBX on the customer's LAN behind a VPN, the local stack's simulator);
* the connection is pinned to the checked address (the URL's host is replaced by the IP; ``Host`` and
  TLS SNI/certificate checks keep the name), so a DNS answer that changes between check and connect
  (DNS rebinding) cannot redirect us;
* redirects are followed by hand, at most ``max_redirects``, and every hop is checked the same way;
  credentials in the URL are not forwarded to another host;
* environment proxies are ignored (a proxy would connect on our behalf, after the check);
* a timeout per operation and a deadline for the whole download, a size cap (Content-Length checked
  first, then bytes counted while streaming), and a content-type check (audio, or a generic binary
  type whose first bytes are a known audio format).

Errors are :class:`FetchError` with a stable ``code`` and ``retryable`` (404, 408, 425, 429, 5xx,
timeouts and connection errors are worth retrying later: PBXs often publish the file after the call
log). Messages name the host at most, never the path, query or credentials of a URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import socket
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import IO

import httpx

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SPOOL_BYTES = 8 * 1024 * 1024  # kept in memory up to this size, then in /tmp
_RETRYABLE_STATUSES = frozenset({404, 408, 425, 429})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_GENERIC_BINARY = frozenset({"application/octet-stream", "binary/octet-stream", "application/x-wav", ""})
_EXTENSIONS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/ogg": "ogg",
    "audio/opus": "opus",
    "audio/flac": "flac",
    "audio/mp4": "m4a",
    "audio/amr": "amr",
    "audio/gsm": "gsm",
    "audio/x-gsm": "gsm",
}


class FetchError(Exception):
    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class RecordingRefused(FetchError):
    """Refused for good: retrying cannot help (forbidden address, not audio, too large...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, retryable=False)


class RecordingUnavailable(FetchError):
    """Not available now: retry later (timeouts, 5xx, 404 while the PBX writes the file...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, retryable=True)


# ---------------------------------------------------------------- destination checks


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA), in resolver order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        if address not in addresses:
            addresses.append(address)
    return addresses


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be fetched from, or None if it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that IPv4 host: judge the embedded one.
        embedded: IPAddress | None = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return forbidden_reason(embedded)
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:  # 169.254.0.0/16 holds the cloud metadata services
        return "link-local"
    if address.is_private:
        return "private"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified or address.is_reserved:
        return "reserved"
    if not address.is_global:  # 100.64.0.0/10 (CGNAT), 192.0.0.0/24, benchmarking ranges...
        return "not-global"
    return None


def host_allowed(host: str, port: int, allowed_hosts: Collection[str]) -> bool:
    """True if ``host`` or ``host:port`` is in the tenant's ``recording_hosts_allowed`` (no wildcards)."""
    name = host.lower().strip("[]")
    for entry in allowed_hosts:
        entry = entry.strip().lower()
        if entry == name or entry.strip("[]") == name:
            return True
        entry_host, sep, entry_port = entry.rpartition(":")
        if sep and entry_port.isdigit() and entry_host.strip("[]") == name and int(entry_port) == port:
            return True
    return False


@dataclass(frozen=True)
class Destination:
    url: httpx.URL  # as given (host name kept)
    host: str
    port: int
    address: str  # the checked address the connection is pinned to
    allowed_by_tenant: bool


def check_destination(url: httpx.URL, allowed_hosts: Collection[str], resolver: Resolver) -> Destination:
    """Resolve and check where ``url`` leads; raise :class:`RecordingRefused` if it is forbidden."""
    if url.scheme not in ("http", "https"):
        raise RecordingRefused("RECORDING_URL_INVALID", "Only http and https recording URLs are fetched.")
    host = url.host
    if not host:
        raise RecordingRefused("RECORDING_URL_INVALID", "The recording URL has no host.")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    try:
        addresses = [str(literal)] if literal else resolver(host, port)
    except (OSError, UnicodeError):
        raise RecordingUnavailable("RECORDING_DNS_FAILED", f"Cannot resolve {host}.") from None
    if not addresses:
        raise RecordingUnavailable("RECORDING_DNS_FAILED", f"{host} has no address.")
    allowed = host_allowed(host, port, allowed_hosts)
    if not allowed:
        for text in addresses:
            reason = forbidden_reason(ipaddress.ip_address(text))
            if reason:
                raise RecordingRefused(
                    "RECORDING_HOST_FORBIDDEN",
                    f"{host} resolves to a {reason} address; allow the host for the tenant to fetch from it.",
                )
    return Destination(url=url, host=host, port=port, address=addresses[0], allowed_by_tenant=allowed)


# ---------------------------------------------------------------- content checks


def sniff_audio(head: bytes) -> str | None:
    """The audio media type of a file starting with ``head``, if it is a format we recognize."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[:5] == b"#!AMR":
        return "audio/amr"
    if head[4:8] == b"ftyp":
        return "audio/mp4"
    return None


def extension_for(content_type: str) -> str:
    return _EXTENSIONS.get(content_type, "bin")


@dataclass
class FetchedRecording:
    file: IO[bytes]  # positioned at 0; close() when done
    size: int
    sha256: str
    content_type: str
    host: str  # of the final URL, for logs

    @property
    def extension(self) -> str:
        return extension_for(self.content_type)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> FetchedRecording:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class RecordingFetcher:
    def __init__(
        self,
        *,
        allowed_hosts: Collection[str] = (),
        max_bytes: int = 200 * 1024 * 1024,
        timeout_seconds: float = 60.0,
        max_redirects: int = 3,
        resolver: Resolver = system_resolver,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowed_hosts = tuple(allowed_hosts)
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.max_redirects = max_redirects
        self.resolver = resolver
        self.transport = transport
        self.clock = clock

    def fetch(self, url: str) -> FetchedRecording:
        """Download ``url`` (checked, pinned, capped); raises :class:`FetchError`."""
        deadline = self.clock() + self.timeout_seconds
        try:
            current = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise RecordingRefused("RECORDING_URL_INVALID", "The recording URL is malformed.") from None
        timeout = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
        with httpx.Client(
            transport=self.transport, timeout=timeout, follow_redirects=False, trust_env=False
        ) as client:
            for hop in range(self.max_redirects + 1):
                destination = check_destination(current, self.allowed_hosts, self.resolver)
                try:
                    request = self._pinned_request(client, destination)
                    with contextlib.closing(client.send(request, stream=True)) as response:
                        if response.is_redirect:
                            current = self._next_hop(current, response, hop)
                            continue
                        return self._read(response, destination, deadline)
                except httpx.TimeoutException:
                    raise RecordingUnavailable(
                        "RECORDING_TIMEOUT", f"{destination.host} timed out."
                    ) from None
                except httpx.TransportError:
                    raise RecordingUnavailable(
                        "RECORDING_UNREACHABLE", f"{destination.host} is unreachable."
                    ) from None
        raise RecordingRefused("RECORDING_TOO_MANY_REDIRECTS", "Too many redirects.")  # pragma: no cover

    @staticmethod
    def _pinned_request(client: httpx.Client, destination: Destination) -> httpx.Request:
        url = destination.url
        default_port = 443 if url.scheme == "https" else 80
        host_header = f"[{destination.host}]" if ":" in destination.host else destination.host
        if destination.port != default_port:
            host_header += f":{destination.port}"
        extensions: dict[str, object] = {}
        if url.scheme == "https":
            # TLS to the pinned IP, but SNI and certificate verification for the host name.
            extensions["sni_hostname"] = destination.host
        return client.build_request(
            "GET",
            url.copy_with(host=destination.address),
            headers={
                "Host": host_header,
                "Accept": "audio/*, application/octet-stream;q=0.5",
                "Accept-Encoding": "identity",  # no decompression: the size cap counts real bytes
                "User-Agent": "ctibridge-recording-fetcher/1",
            },
            extensions=extensions,
        )

    def _next_hop(self, current: httpx.URL, response: httpx.Response, hop: int) -> httpx.URL:
        if hop >= self.max_redirects:
            raise RecordingRefused(
                "RECORDING_TOO_MANY_REDIRECTS", f"More than {self.max_redirects} redirects."
            )
        location = response.headers.get("location")
        if not location:
            raise RecordingRefused("RECORDING_BAD_REDIRECT", "A redirect without a Location.")
        try:
            target = current.join(location)
        except httpx.InvalidURL:
            raise RecordingRefused("RECORDING_BAD_REDIRECT", "A redirect to a malformed URL.") from None
        if target.host != current.host:
            target = target.copy_with(userinfo=b"")  # credentials are for the PBX, not wherever it points
        return target

    def _read(self, response: httpx.Response, destination: Destination, deadline: float) -> FetchedRecording:
        host = destination.host
        status = response.status_code
        if status != 200:
            if status in _RETRYABLE_STATUSES or status >= 500:
                raise RecordingUnavailable(f"RECORDING_HTTP_{status}", f"{host} answered {status}.")
            raise RecordingRefused(f"RECORDING_HTTP_{status}", f"{host} answered {status}.")
        declared = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not (declared.startswith("audio/") or declared in _GENERIC_BINARY):
            raise RecordingRefused("RECORDING_NOT_AUDIO", f"{host} sent {declared or 'no content type'}.")
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise RecordingRefused("RECORDING_TOO_LARGE", f"The recording is over {self.max_bytes} bytes.")

        digest = hashlib.sha256()
        size = 0
        head = b""
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - handed to the caller
        try:
            # Chunks as the network delivers them (httpcore reads up to 64 KiB at a time).
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise RecordingRefused(
                        "RECORDING_TOO_LARGE", f"The recording is over {self.max_bytes} bytes."
                    )
                if self.clock() > deadline:
                    raise RecordingUnavailable("RECORDING_TIMEOUT", f"{host} is too slow.")
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                digest.update(chunk)
                spool.write(chunk)
            if size == 0:
                raise RecordingUnavailable("RECORDING_EMPTY", f"{host} sent an empty file.")
            sniffed = sniff_audio(head)
            if not declared.startswith("audio/") and sniffed is None:
                raise RecordingRefused("RECORDING_NOT_AUDIO", f"{host} sent a file that is not audio.")
            content_type = sniffed or declared
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return FetchedRecording(
            file=spool, size=size, sha256=digest.hexdigest(), content_type=content_type, host=host
        )
