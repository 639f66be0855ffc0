"""A fake PBX for the local stack and the tests: it plays seed 004 calls against the bridge.

Two halves:

* **the server** (:func:`create_app`, started by the local stack on ``--pbx-port``, default 3002):
  ``GET /recordings/{name}.wav`` serves real WAV files it generates (a few seconds of tones, stdlib
  ``wave``), with knobs for tests (``?seconds=``, ``?fail=N`` answers 503 N times first,
  ``?fail_status=``, ``?redirect=N``, ``?type=`` to lie about the content type); ``GET|POST
  /wsapi/{customer}/click2call.php`` is the PBX's click-to-call endpoint (seed 004 §2.1): it records
  every request (``GET /_requests``, ``DELETE /_requests``), checks the secret, answers as a PBX
  would, and then plays the resulting outgoing call back to the bridge's webhooks, ``userfield`` and all.
* **the driver** (:class:`PbxDriver`, ``python -m ctibridge_local.pbx_simulator play``): plays a call
  through the webhooks with realistic timing: ``answered``, ``no-answer``, ``busy``, ``outgoing``,
  ``retry`` (every webhook delivered twice) and ``reorder`` (the call log before the ring).

Examples::

    python -m ctibridge_local.pbx_simulator play --scenario answered --api-key demo-api-key
    python -m ctibridge_local.pbx_simulator play --scenario reorder --count 5
    python -m ctibridge_local.pbx_simulator serve --port 3002   # the server alone
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import json
import math
import re
import secrets
import struct
import sys
import threading
import time
import uuid
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from ctibridge_local.sip.calls import CustomerCalls
    from ctibridge_local.sip.server import SipServer

DEFAULT_PORT = 3002
SCENARIOS = ("answered", "no-answer", "busy", "outgoing", "retry", "reorder")
CALLDATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # PHP's "Y-m-d H:i:s" (seed 004)
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_MAX_WAV_SECONDS = 600


# ---------------------------------------------------------------- recordings


@lru_cache(maxsize=64)
def make_wav(name: str, seconds: float = 3.0, rate: int = 8000) -> bytes:
    """A PCM WAV (8 kHz, 16-bit mono, like a PBX's) of ``seconds``: two tones that alternate twice a
    second, their pitch derived from ``name``, so every call has its own, deterministic file."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
    low, high = 300 + seed % 400, 800 + (seed >> 10) % 600
    frames = bytearray()
    for n in range(int(seconds * rate)):
        t = n / rate
        phase = int(t * 2) % 4
        frequency = low if phase in (0, 2) else high
        amplitude = 0 if phase == 3 and (t * 2) % 1 > 0.8 else 9000  # a short pause, like speech
        frames += struct.pack("<h", int(amplitude * math.sin(2 * math.pi * frequency * t)))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return buffer.getvalue()


# ---------------------------------------------------------------- the server


@dataclass
class SimulatorConfig:
    public_url: str = f"http://127.0.0.1:{DEFAULT_PORT}"  # how the bridge reaches us (recording URLs)
    bridge_url: str | None = None  # the bridge's HTTP API: click-to-call plays calls back to it
    webhook_secrets: dict[str, str] = field(default_factory=dict)  # customer -> PBX secret (webhooks)
    click2call_secrets: dict[str, str] = field(default_factory=dict)  # customer -> click2call secret
    timezone: str = "Asia/Ho_Chi_Minh"
    ring_seconds: float = 0.3


class PbxSimulator:
    """The fake PBX's state: click2call requests received, per-recording failure counters."""

    def __init__(self, config: SimulatorConfig, sip: SipServer | None = None) -> None:
        self.config = config
        self.sip = sip
        self.customer_calls: CustomerCalls | None = None
        if sip is not None:
            from ctibridge_local.sip.calls import CustomerCalls

            self.customer_calls = CustomerCalls(sip)
        self.requests: list[dict[str, Any]] = []
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ recordings
    async def recording(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not _NAME.match(name):
            return JSONResponse({"error": "bad name"}, status_code=400)
        query = request.query_params
        with self._lock:
            served = self._served.get(name, 0)
            self._served[name] = served + 1
        heard = self._heard(name)
        if heard is not None:  # a call played with media: what the customer really heard
            return FileResponse(heard, media_type="audio/wav")
        fail = int(query.get("fail", "0") or 0)
        if served < fail:
            status = int(query.get("fail_status", "503"))
            return JSONResponse({"error": "recording not ready"}, status_code=status)
        redirect = int(query.get("redirect", "0") or 0)
        if redirect > 0:
            params = dict(query)
            params["redirect"] = str(redirect - 1)
            params.pop("fail", None)
            target = request.url.replace(query="&".join(f"{k}={v}" for k, v in params.items()))
            return RedirectResponse(str(target), status_code=302)
        seconds = min(float(query.get("seconds", "3") or 3), _MAX_WAV_SECONDS)
        body = make_wav(name, seconds)
        return Response(body, media_type=query.get("type", "audio/wav"))

    # ------------------------------------------------------------ click-to-call (seed 004 §2.1)
    async def click2call(self, request: Request) -> Response:
        customer = request.path_params["customer"]
        params: dict[str, str] = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            params.update({k: str(v) for k, v in form.items()})
        expected = self.config.click2call_secrets.get(customer)
        presented = params.get("secret", "")
        secret_ok = expected is None or secrets.compare_digest(presented.encode(), expected.encode())
        entry = {
            "customer": customer,
            "method": request.method,
            "params": {k: ("***" if k == "secret" else v) for k, v in params.items()},
            "secret_ok": secret_ok,
            "received_at": time.time(),
        }
        with self._lock:
            self.requests.append(entry)
        if not secret_ok:
            return JSONResponse(
                {"status": "error", "code": 401, "message": "Invalid secret"}, status_code=401
            )
        missing = [name for name in ("extension", "phone") if not params.get(name)]
        if missing:
            return JSONResponse(
                {"status": "error", "code": 400, "message": f"Missing {', '.join(missing)}"}, status_code=400
            )
        callid = f"{time.time():.4f}"  # Asterisk-style uniqueid
        entry["callid"] = callid
        self._play_back(customer, callid, params)
        return JSONResponse(
            {
                "status": "success",
                "code": 200,
                "message": "Calling",
                "callid": callid,
                "extension": params["extension"],
                "phone": params["phone"],
            }
        )

    def _play_back(self, customer: str, callid: str, params: dict[str, str]) -> None:
        """The PBX rings the agent, then dials out: the bridge gets outgoing_call and the call log."""
        secret = self.config.webhook_secrets.get(customer)
        if not (self.config.bridge_url and secret):
            return
        driver = PbxDriver(
            self.config.bridge_url,
            customer,
            secret,
            pbx_url=self.config.public_url,
            timezone=self.config.timezone,
            ring_seconds=self.config.ring_seconds,
        )

        def run() -> None:
            try:
                driver.play(
                    "outgoing",
                    callid=callid,
                    phone=params["phone"],
                    extension=params["extension"],
                    userfield=params.get("userfield"),
                )
            except httpx.HTTPError:
                pass  # the bridge is down: a real PBX would retry later; the simulator gives up
            finally:
                driver.close()

        task = asyncio.get_running_loop().create_task(asyncio.to_thread(run))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def list_requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            with self._lock:
                self.requests.clear()
            return Response(status_code=204)
        with self._lock:
            return JSONResponse({"requests": list(self.requests)})

    # ------------------------------------------------------------ calls with media (the SIP side)
    def _heard(self, name: str) -> Path | None:
        if self.customer_calls is None:
            return None
        call = self.customer_calls.by_callid(name) or next(
            (c for c in list(self.customer_calls.calls.values()) if _safe_name(c.callid) == name), None
        )
        return call.recording if call is not None and call.recording is not None else None

    async def sip_info(self, _: Request) -> Response:
        if self.sip is None:
            return JSONResponse({"available": False})
        return JSONResponse(
            {
                "available": True,
                "websocket_url": self.sip.ws_url,
                "udp": f"{self.sip.host}:{self.sip.udp_port}",
                "domain": self.sip.domain,
                "busy_phone": {
                    "address": self.sip.busy_address,
                    "rejected": len(self.sip.busy.rejected) if self.sip.busy else 0,
                },
            }
        )

    async def place_call(self, request: Request) -> Response:
        if self.customer_calls is None:
            return JSONResponse({"code": "NO_SIP_SIDE", "message": "The SIP side is not running."}, 409)
        body = await request.json()
        extension, phone = str(body.get("extension", "")), str(body.get("phone", ""))
        if not (_NAME.match(extension) and re.fullmatch(r"\+?[0-9]{1,20}", phone)):
            return JSONResponse({"code": "BAD_CALL", "message": "extension or phone is not valid"}, 400)
        calls = self.customer_calls
        call = await asyncio.to_thread(
            calls.place,
            extension,
            phone,
            str(body.get("callid") or phone),
            talk_seconds=float(body.get("talk_seconds") or 0),
            ring_timeout=float(body.get("ring_timeout") or 60),
        )
        return JSONResponse(call.as_dict(), status_code=201)

    async def list_calls(self, _: Request) -> Response:
        calls = list(self.customer_calls.calls.values()) if self.customer_calls else []
        return JSONResponse({"calls": [call.as_dict() for call in calls]})

    async def get_call(self, request: Request) -> Response:
        call = self.customer_calls.get(request.path_params["id"]) if self.customer_calls else None
        if call is None:
            return JSONResponse({"code": "NOT_FOUND", "message": "no such call"}, 404)
        return JSONResponse(call.as_dict())

    async def hangup_call(self, request: Request) -> Response:
        if self.customer_calls is None or not self.customer_calls.hangup(request.path_params["id"]):
            return JSONResponse({"code": "NOT_FOUND", "message": "no such call"}, 404)
        return Response(status_code=202)

    async def heard(self, request: Request) -> Response:
        call = self.customer_calls.get(request.path_params["id"]) if self.customer_calls else None
        if call is None or call.recording is None:
            return JSONResponse({"code": "NOT_FOUND", "message": "no recording (yet)"}, 404)
        return FileResponse(call.recording, media_type="audio/wav")

    async def health(self, _: Request) -> Response:
        return JSONResponse({"status": "ok", "pbx": "simulator"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/health", self.health),
                Route("/recordings/{name}.wav", self.recording),
                Route("/wsapi/{customer}/click2call.php", self.click2call, methods=["GET", "POST"]),
                Route("/_requests", self.list_requests, methods=["GET", "DELETE"]),
                Route("/sip", self.sip_info),
                Route("/calls", self.place_call, methods=["POST"]),
                Route("/calls", self.list_calls, methods=["GET"]),
                Route("/calls/{id}", self.get_call),
                Route("/calls/{id}/hangup", self.hangup_call, methods=["POST"]),
                Route("/calls/{id}/heard.wav", self.heard),
            ]
        )


def create_app(config: SimulatorConfig | None = None, sip: SipServer | None = None) -> Starlette:
    return PbxSimulator(config or SimulatorConfig(), sip).app()


# ---------------------------------------------------------------- the driver


@dataclass
class Delivery:
    kind: str
    method: str
    status: int
    body: Any
    fields: dict[str, Any] = field(default_factory=dict)  # what was sent (the secret excluded)


@dataclass
class PlayResult:
    scenario: str
    callid: str
    phone: str
    extension: str
    recording: str | None
    deliveries: list[Delivery] = field(default_factory=list)
    media: dict[str, Any] | None = None  # the real call (SIP side): state, times, reason

    @property
    def ok(self) -> bool:
        return all(d.status == 200 for d in self.deliveries)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "callid": self.callid,
            "phone": self.phone,
            "extension": self.extension,
            "recording": self.recording,
            "deliveries": [d.__dict__ for d in self.deliveries],
            **({"media": self.media} if self.media is not None else {}),
        }


class PbxDriver:
    """Sends seed 004 webhooks to the bridge as a PBX does (GET with a query string for the ring
    events, POST with a JSON body for the call log, ``?secret=`` in the URL unless ``auth`` says)."""

    def __init__(
        self,
        http_url: str,
        customer: str,
        secret: str,
        *,
        pbx_url: str = f"http://127.0.0.1:{DEFAULT_PORT}",
        timezone: str = "Asia/Ho_Chi_Minh",
        ring_seconds: float = 0.3,
        auth: str = "query",  # query | x-api-key | bearer | basic
        client: httpx.Client | None = None,
    ) -> None:
        self.http_url = http_url.rstrip("/")
        self.customer = customer
        self.secret = secret
        self.pbx_url = pbx_url.rstrip("/")
        self.zone = ZoneInfo(timezone)
        self.ring_seconds = ring_seconds
        self.auth = auth
        self._client = client or httpx.Client(timeout=10.0)
        self._owns_client = client is None

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> PbxDriver:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------ one webhook
    def send(
        self, kind: str, fields: dict[str, Any], *, method: str = "GET", style: str = "query"
    ) -> Delivery:
        """Deliver one event; ``style`` is where the fields go: query, json or form."""
        url = f"{self.http_url}/wsapi/{self.customer}/{kind}"
        query: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if self.auth == "query":
            query["secret"] = self.secret
        elif self.auth == "x-api-key":
            headers["X-Api-Key"] = self.secret
        elif self.auth == "bearer":
            headers["Authorization"] = f"Bearer {self.secret}"
        elif self.auth == "basic":
            token = base64.b64encode(f"{self.customer}:{self.secret}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        kwargs: dict[str, Any] = {"headers": headers}
        if style == "query":
            query.update(fields)
        elif style == "json":
            kwargs["json"] = fields
        else:
            kwargs["data"] = {k: "" if v is None else str(v) for k, v in fields.items()}
        response = self._client.request(method, url, params=query, **kwargs)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return Delivery(kind=kind, method=method, status=response.status_code, body=body, fields=dict(fields))

    # ------------------------------------------------------------ a whole call
    def recording_url(self, callid: str, seconds: float = 3.0) -> str:
        return f"{self.pbx_url}/recordings/{_safe_name(callid)}.wav?seconds={seconds:g}"

    def play(
        self,
        scenario: str,
        *,
        callid: str | None = None,
        phone: str = "0904824242",
        extension: str = "101",
        userfield: str | None = None,
        recording_seconds: float = 3.0,
        media: bool = False,
        talk_seconds: float = 0,
        ring_timeout: float = 60,
    ) -> PlayResult:
        """Play one call of ``scenario`` through the webhooks; returns what each delivery answered.

        With ``media`` (scenario ``answered``) and the simulator's SIP side running, the call is real:
        see :meth:`play_with_media`. Without a SIP side it is played as without ``media``."""
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
        callid = callid or f"{time.time():.4f}-{uuid.uuid4().hex[:6]}"
        if media and scenario == "answered":
            played = self.play_with_media(
                callid=callid,
                phone=phone,
                extension=extension,
                userfield=userfield,
                talk_seconds=talk_seconds,
                ring_timeout=ring_timeout,
            )
            if played is not None:
                return played
        started = datetime.now(self.zone).replace(microsecond=0)
        outgoing = scenario in ("outgoing", "busy")
        answered = scenario not in ("no-answer", "busy")
        ring = max(1, round(self.ring_seconds)) if answered else 30
        talk = 7 + int(hashlib.sha256(callid.encode()).hexdigest(), 16) % 180 if answered else 0
        recording = self.recording_url(callid, recording_seconds) if answered else None
        ring_event: tuple[str, dict[str, Any]] = (
            "outgoing_call" if outgoing else "incoming_call",
            {"phone": phone, "extension": extension, "callid": callid},
        )
        log_event: tuple[str, dict[str, Any]] = (
            "call_answered",
            {
                "callid": callid,
                "calldate": started.strftime(CALLDATE_FORMAT),
                "extension": extension,
                "phone": phone,
                "duration": ring + talk,
                "billsec": talk,
                # "NO ANSER" is how seed 004 spells it; PBXs built from that document send it.
                "status": "ANSWERED" if answered else ("BUSY" if scenario == "busy" else "NO ANSER"),
                "recording": recording or "",
                "userfield": userfield or "",
            },
        )
        result = PlayResult(scenario, callid, phone, extension, recording)
        copies = 2 if scenario == "retry" else 1
        order = [log_event, ring_event] if scenario == "reorder" else [ring_event, log_event]
        for index, (kind, fields) in enumerate(order):
            if index:
                time.sleep(self.ring_seconds)  # ringing (and talking, compressed)
            method, style = ("POST", "json") if kind == "call_answered" else ("GET", "query")
            for _ in range(copies):
                result.deliveries.append(self.send(kind, fields, method=method, style=style))
        return result

    def sip_side(self) -> dict[str, Any]:
        """The simulator's SIP side (``{"available": bool, ...}``), unavailable if it can't be asked."""
        try:
            answer = self._client.get(f"{self.pbx_url}/sip")
        except httpx.HTTPError:
            return {"available": False}
        info: dict[str, Any] = answer.json() if answer.status_code == 200 else {"available": False}
        return info

    def play_with_media(
        self,
        *,
        callid: str,
        phone: str,
        extension: str,
        userfield: str | None = None,
        talk_seconds: float = 0,
        ring_timeout: float = 60,
    ) -> PlayResult | None:
        """A real call: the simulator's customer phone (baresip) sends the INVITE to the agent through
        Kamailio while ``incoming_call`` is posted; the agent answers in the webphone; the customer plays
        its WAV and records what it hears; when either side hangs up (the customer after
        ``talk_seconds`` if given) ``call_answered`` goes with the real duration, billsec and that
        recording. None when the simulator has no SIP side. An extension with no phone registered
        (480) is played on without media, as :meth:`play` would."""
        if not self.sip_side().get("available"):
            return None
        started = datetime.now(self.zone).replace(microsecond=0)
        placed = self._client.post(
            f"{self.pbx_url}/calls",
            json={
                "extension": extension,
                "phone": phone,
                "callid": callid,
                "talk_seconds": talk_seconds,
                "ring_timeout": ring_timeout,
            },
        )
        placed.raise_for_status()
        call: dict[str, Any] = placed.json()
        result = PlayResult("answered", callid, phone, extension, None)
        ring = {"phone": phone, "extension": extension, "callid": callid}
        result.deliveries.append(self.send("incoming_call", ring))
        deadline = time.monotonic() + ring_timeout + (talk_seconds or 3600) + 30
        while call["state"] in ("ringing", "answered") and time.monotonic() < deadline:
            time.sleep(0.2)
            call = self._client.get(f"{self.pbx_url}/calls/{call['id']}").json()
        result.media = call
        if call["state"] == "failed" and call["reason"].startswith("480"):
            print(
                f"extension {extension} has no phone registered (open the webphone and log in as "
                f"{extension}): the call is played without media",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(self.ring_seconds)
            talk = 7 + int(hashlib.sha256(callid.encode()).hexdigest(), 16) % 180
            result.recording = self.recording_url(callid)
            log = self._call_log(
                callid, started, extension, phone, 1 + talk, talk, "ANSWERED", result.recording
            )
        else:
            answered = call["state"] == "ended" and call["answered_at"] is not None
            status = "ANSWERED" if answered else ("BUSY" if call["reason"].startswith("486") else "NO ANSER")
            if answered and call["recording"]:
                result.recording = f"{self.pbx_url}/recordings/{_safe_name(callid)}.wav"
            log = self._call_log(
                callid, started, extension, phone, call["duration"], call["billsec"], status, result.recording
            )
        if userfield:
            log["userfield"] = userfield
        result.deliveries.append(self.send("call_answered", log, method="POST", style="json"))
        return result

    def _call_log(
        self,
        callid: str,
        started: datetime,
        extension: str,
        phone: str,
        duration: int,
        billsec: int,
        status: str,
        recording: str | None,
    ) -> dict[str, Any]:
        return {
            "callid": callid,
            "calldate": started.strftime(CALLDATE_FORMAT),
            "extension": extension,
            "phone": phone,
            "duration": duration,
            "billsec": billsec,
            "status": status,
            "recording": recording or "",
            "userfield": "",
        }


def _safe_name(callid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", callid)[:128]


def wait_for_call(
    http_url: str, api_key: str, callid: str, *, timeout: float = 15.0, recording: bool = True
) -> dict[str, Any] | None:
    """Poll ``GET /v1/calls/{callid}`` until the call (and its recording, if any) is stored."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    with httpx.Client(timeout=5.0, headers={"X-Api-Key": api_key}) as client:
        while time.monotonic() < deadline:
            response = client.get(f"{http_url.rstrip('/')}/v1/calls/{callid}")
            if response.status_code == 200:
                last = response.json()
                state = (last.get("recording") or {}).get("state")
                if not recording or state in ("stored", "failed", "none"):
                    return last
            time.sleep(0.25)
    return last


# ---------------------------------------------------------------- command line


def _play(args: argparse.Namespace) -> int:
    failures = 0
    with PbxDriver(
        args.http_url,
        args.customer,
        args.secret,
        pbx_url=args.pbx_url,
        timezone=args.timezone,
        ring_seconds=args.ring_seconds,
        auth=args.auth,
    ) as driver:
        for n in range(args.count):
            result = driver.play(
                args.scenario,
                callid=args.callid if args.count == 1 else None,
                phone=args.phone,
                extension=args.extension,
                userfield=args.userfield,
                media=args.media != "off",
                talk_seconds=args.talk_seconds,
                ring_timeout=args.ring_timeout,
            )
            failures += 0 if result.ok else 1
            print(json.dumps(result.as_dict(), ensure_ascii=False), flush=True)
            if args.api_key:
                stored = wait_for_call(
                    args.http_url, args.api_key, result.callid, recording=result.recording is not None
                )
                print(json.dumps({"stored": stored}, indent=2, ensure_ascii=False), flush=True)
            if n + 1 < args.count:
                time.sleep(args.ring_seconds)
    return 1 if failures else 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    public = args.public_url or f"http://{args.host}:{args.port}"
    config = SimulatorConfig(
        public_url=public,
        bridge_url=args.http_url,
        webhook_secrets={args.customer: args.secret} if args.secret else {},
        click2call_secrets={args.customer: args.click2call_secret} if args.click2call_secret else {},
        timezone=args.timezone,
    )
    print(
        f"PBX simulator on {public} (click2call: {public}/wsapi/{args.customer}/click2call.php)", flush=True
    )
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pbx-simulator", description="A fake PBX for the local stack (seed 004)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--http-url", default="http://127.0.0.1:3000", help="the bridge's HTTP API")
    common.add_argument("--customer", default="demo")
    common.add_argument("--secret", default="demo-secret", help="the tenant's PBX secret")
    common.add_argument("--timezone", default="Asia/Ho_Chi_Minh", help="the PBX's clock (calldate)")

    play = commands.add_parser("play", parents=[common], help="play calls through the webhooks")
    add_play_arguments(play)
    play.set_defaults(run=_play)

    serve = commands.add_parser("serve", parents=[common], help="serve recordings and click2call.php alone")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--public-url", default=None, help="how the bridge reaches this server")
    serve.add_argument("--click2call-secret", default=None, help="secret click2call.php requires")
    serve.set_defaults(run=_serve)
    return parser


def add_play_arguments(play: argparse.ArgumentParser) -> None:
    """The ``play`` options (shared with ``ctibridge pbx simulate``)."""
    play.add_argument("--scenario", choices=SCENARIOS, default="answered")
    play.add_argument("--count", type=int, default=1, help="calls to play, one after the other")
    play.add_argument("--callid", default=None)
    play.add_argument("--phone", default="0904824242")
    play.add_argument("--extension", default="101")
    play.add_argument("--userfield", default=None)
    play.add_argument(
        "--pbx-url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="the simulator (recordings)"
    )
    play.add_argument("--ring-seconds", type=float, default=0.3, help="time between the call's events")
    play.add_argument("--auth", choices=("query", "x-api-key", "bearer", "basic"), default="query")
    play.add_argument("--api-key", default=None, help="CRM API key: then show the call as stored")
    play.add_argument(
        "--media",
        choices=("auto", "off"),
        default="auto",
        help="answered calls ring the agent's webphone for real when the SIP side runs (auto)",
    )
    play.add_argument(
        "--talk-seconds",
        type=float,
        default=0,
        help="with media: the customer hangs up after this (0: never)",
    )
    play.add_argument("--ring-timeout", type=float, default=60, help="with media: give up ringing after this")


def play_from_args(args: argparse.Namespace) -> int:
    return _play(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
