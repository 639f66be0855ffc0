"""A loopback HTTP(S) server in a thread, for tests that need httpx's real transport (connection pools,
TLS handshakes): it records each request's path, ``Host`` and TCP connection, and each TLS handshake's
server name (SNI). Keep-alive is on (HTTP/1.1), so reused connections show.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from ctibridge_local.pbx_simulator import make_wav

WAV = make_wav("loopback", seconds=0.1)  # what a path ending in .wav answers (a recording)


@dataclass
class Seen:
    path: str
    host: str
    connection: tuple[str, int]  # the client's address and port: one per TCP connection


@dataclass
class LoopbackServer:
    """``with LoopbackServer(tls=context) as server``: ``server.port``, ``server.seen``, ``server.sni``."""

    tls: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self._answer()

            def _answer(self) -> None:
                server.seen.append(Seen(self.path, self.headers.get("host", ""), self.client_address))
                if self.path.endswith(".wav"):
                    body, kind = WAV, "audio/wav"
                else:
                    body, kind = b'{"name": "Nguyen Van A"}', "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.tls is not None:
            self.tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def connections(self) -> list[tuple[str, int]]:
        """The distinct TCP connections requests came on, in order."""
        return list(dict.fromkeys(s.connection for s in self.seen))

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
