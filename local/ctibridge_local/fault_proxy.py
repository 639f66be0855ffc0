"""A loopback proxy between the functions and moto's server that can make AWS fail on demand.

Enabled with ``--fault-proxy`` (the hardening tests do); absent otherwise. The functions' AWS endpoint
(``AWS_ENDPOINT_URL``) is then this proxy, which forwards to moto in one of four modes, switched at
runtime with ``PUT {web_url}/_local/aws-faults {"mode": ...}`` (``GET`` answers the current state).
It runs in a child process, as moto does (``FaultProxyProcess``; the script reads one JSON command a
line on stdin and answers the status on stdout): on the stack's process it would take the GIL from
the functions at every byte it copies, and wait for it behind them.

- ``pass`` (the default): every connection is piped byte for byte to its own connection to moto. No HTTP
  parsing, so keep-alive, streaming bodies, ``Expect: 100-continue`` and HEAD all work unchanged. An AWS
  call costs about a millisecond more: moto closes every connection, so each call opens one more here.
- ``down``: every connection is reset (RST) as soon as it is accepted: botocore raises
  ``ConnectionClosedError`` (``EndpointConnectionError`` if the reset comes first) at once, with no
  timeout to wait for, only its retry backoff.
- ``throttle``: every request is answered by the proxy, never reaching moto, with the service's
  throttling error: HTTP 400 ``{"__type": "...#ThrottlingException", "message": "Rate exceeded"}`` for the
  JSON protocols (requests with ``X-Amz-Target``: DynamoDB, SQS, Secrets Manager), HTTP 503 ``SlowDown``
  (S3's answer, XML) for the others. The connection stays open for the next request when the request's
  body could be read off it (a ``Content-Length``), as AWS's would.
- ``slow``: as ``pass``, with every answer held back ``delay_seconds`` (default 2 s; botocore's read
  timeout in ``ctibridge.aws`` is 5 s).

A switch resets every live connection, so each connection lives in one mode from accept to close and a
pooled keep-alive connection cannot carry the old mode on (urllib3 sees it dropped and opens a new one).
Local only: nothing like it is deployed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

Mode = Literal["pass", "down", "throttle", "slow"]
MODES: tuple[str, ...] = get_args(Mode)
DEFAULT_SLOW_SECONDS = 2.0
MAX_SLOW_SECONDS = 60.0
_CHUNK = 64 * 1024
_MAX_HEAD_BYTES = 64 * 1024
# JSON-protocol error types carry the service's namespace where botocore's models give one (the shape
# DynamoDB itself answers); botocore keeps what follows the '#'.
_JSON_NAMESPACES = {"DynamoDB_20120810": "com.amazonaws.dynamodb.v20120810"}


@dataclass(frozen=True)
class FaultMode:
    mode: Mode = "pass"
    delay_seconds: float = DEFAULT_SLOW_SECONDS

    @classmethod
    def parse(cls, payload: Any) -> FaultMode:
        """``{"mode": "slow", "delay_seconds": 3}`` → a FaultMode; ValueError with a reason otherwise."""
        if not isinstance(payload, dict):
            raise ValueError("send a JSON object: {'mode': 'pass' | 'down' | 'throttle' | 'slow'}")
        unknown = set(payload) - {"mode", "delay_seconds"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        mode = payload.get("mode")
        if mode not in MODES:
            raise ValueError(f"mode: one of {', '.join(MODES)}")
        delay = payload.get("delay_seconds", DEFAULT_SLOW_SECONDS)
        number = isinstance(delay, int | float) and not isinstance(delay, bool)
        if not number or not 0 <= delay <= MAX_SLOW_SECONDS:
            raise ValueError(f"delay_seconds: a number from 0 to {MAX_SLOW_SECONDS:g}")
        return cls(mode=cast(Mode, mode), delay_seconds=float(delay))


@dataclass(frozen=True)
class RequestHead:
    """What ``throttle`` needs of a request: its method, headers (lower-case names) and body framing."""

    method: str
    headers: dict[str, str]

    @classmethod
    def parse(cls, head: bytes) -> RequestHead:
        lines = head.decode("latin-1").split("\r\n")
        method = lines[0].split(" ", 1)[0].upper()
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return cls(method=method, headers=headers)

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def body_is_readable(self) -> bool:
        """True if the whole body can be read and dropped, leaving the connection at the next request:
        a ``Content-Length`` (or no body at all), no chunked encoding, no ``Expect: 100-continue`` (the
        client would wait for our 100 before sending it)."""
        if "transfer-encoding" in self.headers or "100-continue" in self.headers.get("expect", "").lower():
            return False
        return self.content_length is not None or "content-length" not in self.headers


def throttle_response(request: RequestHead, *, keep_alive: bool, request_id: str = "fault-proxy") -> bytes:
    """The raw HTTP answer AWS gives a throttled ``request``, in the protocol of the service it targets."""
    target = request.headers.get("x-amz-target")
    if target:  # JSON protocols: DynamoDB, SQS, Secrets Manager...
        namespace = _JSON_NAMESPACES.get(target.split(".", 1)[0])
        error_type = f"{namespace}#ThrottlingException" if namespace else "ThrottlingException"
        status = "400 Bad Request"
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-amz-json"):
            content_type = "application/x-amz-json-1.0"
        body = json.dumps({"__type": error_type, "message": "Rate exceeded"}).encode()
    else:  # S3 (REST-XML) and the rest: S3's throttling answer; botocore retries any 503 too
        status = "503 Slow Down"
        content_type = "application/xml"
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message>"
            + f"<RequestId>{request_id}</RequestId></Error>".encode()
        )
    head = (
        f"HTTP/1.1 {status}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-amzn-RequestId: {request_id}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode()
    return head if request.method == "HEAD" else head + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0): the peer sees "connection reset", not a polite end."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Connection:
    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None

    def reset(self) -> None:
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)


class FaultProxy:
    """The proxy on ``host``:``port`` (0: any free port) in front of ``upstream_host``:``upstream_port``,
    served on a thread of its own with its own event loop (in the child process of ``FaultProxyProcess``;
    tests may run one in their own process)."""

    def __init__(self, host: str, upstream_host: str, upstream_port: int, port: int = 0) -> None:
        self.host = host
        self.port = port
        self.upstream = (upstream_host, upstream_port)
        self._mode = FaultMode()
        self._faults: Counter[str] = Counter()  # connections reset (down), requests answered (throttle)...
        self._live: dict[_Connection, asyncio.Task[Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ lifecycle (any thread)
    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="aws-fault-proxy", daemon=True)
        self._thread.start()
        self._server = self._run(self._open()).result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is None or not self._loop.is_running():
            return
        with contextlib.suppress(Exception):
            self._run(self._close()).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def status(self) -> dict[str, Any]:
        mode = self._mode
        return {
            "mode": mode.mode,
            "delay_seconds": mode.delay_seconds,
            "proxy": self.url,
            "upstream": f"http://{self.upstream[0]}:{self.upstream[1]}",
            "faults": dict(self._faults),  # by mode: connections reset, requests answered, answers delayed
            "live_connections": len(self._live),
        }

    def set_mode(self, mode: FaultMode) -> dict[str, Any]:
        """Switch to ``mode`` (every live connection is reset) and answer the new status."""
        self._run(self._switch(mode)).result(timeout=10)
        return self.status()

    def _run(self, coroutine: Any) -> Any:
        assert self._loop is not None, "start() first"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    # ------------------------------------------------------------------ on the proxy's loop
    async def _open(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, self.host, self.port, limit=_MAX_HEAD_BYTES)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset_all()

    async def _switch(self, mode: FaultMode) -> None:
        if mode != self._mode:
            self._mode = mode
            await self._reset_all()

    async def _reset_all(self) -> None:
        live = dict(self._live)
        for connection in live:
            connection.reset()
        if live:
            await asyncio.wait(live.values(), timeout=5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(writer)
        task = asyncio.current_task()
        assert task is not None
        self._live[connection] = task
        mode = self._mode
        try:
            if mode.mode == "down":
                self._faults["down"] += 1
                connection.reset()
            elif mode.mode == "throttle":
                await self._throttle(reader, writer)
            else:
                await self._pipe(reader, connection, mode.delay_seconds if mode.mode == "slow" else 0.0)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            connection.reset()  # a broken client, a reset by a switch: nothing to answer
        finally:
            del self._live[connection]
            writer.close()
            if connection.upstream is not None:
                connection.upstream.close()

    async def _throttle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the client closed between requests
            request = RequestHead.parse(head)
            keep_alive = request.body_is_readable and request.method != "HEAD"
            if keep_alive and request.content_length:
                await reader.readexactly(request.content_length)
            self._faults["throttle"] += 1
            writer.write(throttle_response(request, keep_alive=keep_alive))
            await writer.drain()
            if not keep_alive:
                return

    async def _pipe(self, reader: asyncio.StreamReader, connection: _Connection, delay: float) -> None:
        try:
            upstream_reader, connection.upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            connection.reset()  # moto itself is gone: as AWS unreachable
            return
        awaiting_answer = False

        async def requests() -> None:
            nonlocal awaiting_answer
            while data := await reader.read(_CHUNK):
                awaiting_answer = True
                assert connection.upstream is not None
                connection.upstream.write(data)
                await connection.upstream.drain()
            if connection.upstream is not None and connection.upstream.can_write_eof():
                connection.upstream.write_eof()  # the client is done sending; its answer may follow

        async def answers() -> None:
            nonlocal awaiting_answer
            while data := await upstream_reader.read(_CHUNK):
                if delay and awaiting_answer:
                    awaiting_answer = False
                    self._faults["slow"] += 1
                    await asyncio.sleep(delay)
                connection.client.write(data)
                await connection.client.drain()

        sending, answering = asyncio.ensure_future(requests()), asyncio.ensure_future(answers())
        try:
            done, _ = await asyncio.wait({sending, answering}, return_when=asyncio.FIRST_COMPLETED)
            if sending in done and sending.exception() is None:
                await answering  # a half-closed client still gets its answer
            for task in done:
                task.result()  # raise what broke the connection, if anything
        finally:
            for task in (sending, answering):
                task.cancel()
            await asyncio.gather(sending, answering, return_exceptions=True)


# ---------------------------------------------------------------------- the child process


class FaultProxyProcess:
    """The stack's side: the proxy in a child process, switched through its stdin/stdout."""

    def __init__(self, host: str, upstream_host: str, upstream_port: int) -> None:
        self.host = host
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()  # one command at a time: each line answered by one line

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, str(Path(__file__)), self.host, self.upstream[0], str(self.upstream[1])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            # Out of the terminal's process group: Ctrl-C reaches the stack only, which stops this last
            # (dying first, it would leave the functions' calls failing while the stack shuts down).
            start_new_session=True,
        )
        self.port = int(self._answer()["proxy"].rsplit(":", 1)[1])

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        assert self._process.stdin is not None
        with contextlib.suppress(OSError):
            self._process.stdin.close()  # the child's cue to stop
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()

    def status(self) -> dict[str, Any]:
        return self._command({})

    def set_mode(self, mode: FaultMode) -> dict[str, Any]:
        return self._command(asdict(mode))

    def _command(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert self._process is not None, "start() first"
        assert self._process.stdin is not None
        with self._lock:
            self._process.stdin.write(json.dumps(payload) + "\n")
            self._process.stdin.flush()
            return self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self._process is not None
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the AWS fault proxy exited ({self._process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def endpoint(self, request: Request) -> Response:
        """``GET``/``PUT {web_url}/_local/aws-faults`` (mounted by the stack with ``--fault-proxy``)."""
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import JSONResponse

        if request.method != "PUT":
            return JSONResponse(await run_in_threadpool(self.status))
        try:
            mode = FaultMode.parse(json.loads(await request.body() or b"null"))
        except ValueError as error:  # json.JSONDecodeError is a ValueError too
            return JSONResponse({"code": "VALIDATION_ERROR", "message": str(error)}, status_code=400)
        return JSONResponse(await run_in_threadpool(self.set_mode, mode))


def main(argv: list[str]) -> None:
    """``fault_proxy.py HOST UPSTREAM_HOST UPSTREAM_PORT``: the status on stdout, then one JSON command
    a line on stdin (``{}``: the status; ``{"mode": ...}``: switch), each answered by the status; stops
    at the end of stdin (the stack stopped or died)."""
    host, upstream_host, upstream_port = argv
    # Ctrl-C on `make dev` reaches the whole process group: the stack stops us by closing stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    proxy = FaultProxy(host, upstream_host, int(upstream_port))
    proxy.start()
    print(json.dumps(proxy.status()), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        status = proxy.set_mode(FaultMode.parse(command)) if command else proxy.status()
        print(json.dumps(status), flush=True)
    proxy.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
