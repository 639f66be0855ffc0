"""Downloading a recording from a PBX, with an SSRF guard.

The recording URL comes from the PBX webhook, i.e. from the internet: without a guard it could make us
read cloud metadata (169.254.169.254), our own services on loopback, or a private network. So:

* every hop goes through ``ctibridge.outbound_guard``: ``http``/``https`` only, the host resolved once
  and every address public — unless the tenant lists the host in ``recording_hosts_allowed`` (a PBX
  on the customer's LAN behind a VPN, the local stack's simulator) — and the connection pinned to the
  checked address (DNS rebinding cannot redirect it);
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
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import IO

import httpx

from ctibridge import outbound_guard, outbound_http
from ctibridge.outbound_guard import Destination, Resolver, system_resolver

_SPOOL_BYTES = 8 * 1024 * 1024  # kept in memory up to this size, then in /tmp
_RETRYABLE_STATUSES = frozenset({404, 408, 425, 429})
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


def check_destination(url: httpx.URL, allowed_hosts: Collection[str], resolver: Resolver) -> Destination:
    """Where ``url`` leads (``outbound_guard.check``); raises :class:`RecordingRefused` if it is forbidden
    or not an http(s) URL, :class:`RecordingUnavailable` if its host does not resolve.
    """
    try:
        return outbound_guard.check(url, allowed_hosts=allowed_hosts, resolver=resolver)
    except outbound_guard.InvalidUrl as error:
        raise RecordingRefused("RECORDING_URL_INVALID", f"Recording URL refused: {error}") from None
    except outbound_guard.HostUnresolved as error:
        raise RecordingUnavailable("RECORDING_DNS_FAILED", str(error)) from None
    except outbound_guard.HostForbidden as error:
        raise RecordingRefused(
            "RECORDING_HOST_FORBIDDEN", f"{error}; allow the host for the tenant to fetch from it."
        ) from None


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
        # No redirects followed by httpx (each hop is checked below), no environment proxy.
        with outbound_http.client(timeout=timeout, transport=self.transport) as client:
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
        return client.build_request(
            "GET",
            destination.target,
            headers={
                **destination.headers,
                "Accept": "audio/*, application/octet-stream;q=0.5",
                "Accept-Encoding": "identity",  # no decompression: the size cap counts real bytes
                "User-Agent": "ctibridge-recording-fetcher/1",
            },
            extensions=destination.extensions,
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
