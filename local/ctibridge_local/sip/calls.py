"""Calls from simulated customers to agents, with media: one baresip per call (see baresip.py).

:meth:`CustomerCalls.place` starts a customer's phone and sends the INVITE to the agent's extension
through Kamailio at once; a thread then follows the call: ringing until the agent answers (or
``ring_timeout``), talking (the customer plays the project's WAV and records what it hears) until either
side hangs up (the customer after ``talk_seconds``, if given), then the times the PBX reports: duration
from the INVITE, billsec from the answer. The PBX simulator serves these over HTTP (``/calls``).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctibridge_local.sip.baresip import Baresip, CallEvent
from ctibridge_local.sip.server import SipServer, _need, free_baresip_port, free_port, rtp_port_range
from ctibridge_local.sip.sounds import customer_voice

_ENDED = ("CALL_CLOSED",)


@dataclass
class CustomerCall:
    id: str
    extension: str
    phone: str
    callid: str  # the PBX's call id (the webhooks'), not SIP's
    phone_ua: Baresip
    talk_seconds: float
    ring_timeout: float
    state: str = "ringing"  # ringing → answered → ended; or failed (never answered)
    reason: str = ""  # baresip's last word: "480 Temporarily Unavailable", "Connection reset by user"…
    invited_at: float = 0.0
    ringing_at: float | None = None  # 180 Ringing came back
    answered_at: float | None = None
    transferred_at: float | None = None  # the transfer target answered (REFER from the agent)
    ended_at: float | None = None
    recording: Path | None = None  # what the customer heard
    hangup_requested: threading.Event = field(default_factory=threading.Event)

    def as_dict(self) -> dict[str, Any]:
        end = self.ended_at or time.time()
        return {
            "id": self.id,
            "extension": self.extension,
            "phone": self.phone,
            "callid": self.callid,
            "state": self.state,
            "reason": self.reason,
            "invited_at": self.invited_at,
            "ringing_at": self.ringing_at,
            "answered_at": self.answered_at,
            "transferred_at": self.transferred_at,
            "ended_at": self.ended_at,
            "duration": round(end - self.invited_at),
            "billsec": round(end - self.answered_at) if self.answered_at else 0,
            "recording": self.recording is not None,
        }


class CustomerCalls:
    def __init__(self, sip: SipServer) -> None:
        self.sip = sip
        self.calls: dict[str, CustomerCall] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        sip.on_stop.append(self.stop)

    def place(
        self, extension: str, phone: str, callid: str, *, talk_seconds: float = 0, ring_timeout: float = 60
    ) -> CustomerCall:
        assert self.sip.workdir is not None
        call_id = f"{next(self._counter)}-{uuid.uuid4().hex[:8]}"
        host = self.sip.host
        ua = Baresip(
            _need("baresip"),
            self.sip.workdir / "calls" / call_id,
            host=host,
            sip_port=free_baresip_port(host),
            ctrl_port=free_port(host),
            rtp_ports=rtp_port_range(20),
            user=phone,
            outbound=self.sip.outbound,
            source_wav=customer_voice(self.sip.workdir / "sounds"),
        ).start()
        call = CustomerCall(call_id, extension, phone, callid, ua, talk_seconds, ring_timeout)
        with self._lock:
            self.calls[call_id] = call
        call.invited_at = time.time()
        ua.dial(f"sip:{extension}@{host}:{self.sip.udp_port}")
        threading.Thread(target=self._follow, args=(call,), name=f"call-{call_id}", daemon=True).start()
        return call

    def get(self, call_id: str) -> CustomerCall | None:
        with self._lock:
            return self.calls.get(call_id)

    def by_callid(self, callid: str) -> CustomerCall | None:
        with self._lock:
            return next((c for c in reversed(self.calls.values()) if c.callid == callid), None)

    def hangup(self, call_id: str) -> bool:
        call = self.get(call_id)
        if call is None:
            return False
        call.hangup_requested.set()
        return True

    def stop(self) -> None:
        with self._lock:
            calls = list(self.calls.values())
        for call in calls:
            call.hangup_requested.set()
            call.phone_ua.stop()

    # ------------------------------------------------------------ one call's life
    def _follow(self, call: CustomerCall) -> None:
        ua = call.phone_ua
        try:
            ringing = ua.wait_for(lambda e: e.type in ("CALL_RINGING", *_ENDED), 10)
            if ringing is not None and ringing.type == "CALL_RINGING":
                call.ringing_at = ringing.at
            first = self._until(call, ("CALL_ESTABLISHED", *_ENDED), call.invited_at + call.ring_timeout)
            if first is None or first.type != "CALL_ESTABLISHED":
                if first is None:  # nobody answered in time, or the PBX side gave up: cancel
                    ua.hangup()
                    first = ua.wait_for("CALL_CLOSED", 5)
                call.state, call.reason = "failed", _reason(first, "no answer")
                return
            call.state, call.answered_at = "answered", first.at
            limit = call.answered_at + call.talk_seconds if call.talk_seconds else call.answered_at + 3600
            closed_legs: set[object] = set()
            while True:
                seen = len(ua.events)
                closed = self._until(call, _ENDED, limit, since=seen)
                if closed is None:  # the customer hangs up
                    ua.hangup()
                    closed = ua.wait_for("CALL_CLOSED", 5, since=seen)
                    break
                # A transfer (REFER): baresip calls the new agent, then the first agent's leg closes.
                closed_legs.add(closed.fields.get("id"))
                live = _live_legs(ua.events, closed_legs, call.answered_at)
                done = frozenset(closed_legs)

                def new_leg(event: CallEvent, done: frozenset[object] = done) -> bool:
                    return event.type == "CALL_ESTABLISHED" and event.fields.get("id") not in done

                nxt = ua.wait_for(new_leg, 30 if live else 0)
                if nxt is None:
                    break
                call.transferred_at = nxt.at
                call.ended_at = None
            call.reason = _reason(closed, "hung up by the customer")
        finally:
            call.ended_at = call.ended_at or time.time()
            ua.stop()  # baresip closes its WAV files as it quits
            heard = ua.heard()
            call.recording = heard[-1] if heard else None
            if call.state != "failed":
                call.state = "ended"

    def _until(
        self, call: CustomerCall, types: tuple[str, ...], deadline: float, since: int = 0
    ) -> CallEvent | None:
        """The first event of ``types``, or None at ``deadline`` or when a hangup is asked for."""
        while time.time() < deadline and not call.hangup_requested.is_set():
            event = call.phone_ua.wait_for(lambda e: e.type in types, 0.1, since=since)
            if event is not None:
                if event.type in _ENDED:
                    call.ended_at = event.at
                return event
        return None


def _live_legs(events: list[CallEvent], closed: set[object], since: float) -> bool:
    """Whether the phone has started a call (a transfer's) since ``since`` that is not closed yet."""
    return any(e.at >= since and e.fields.get("id") not in (None, *closed) for e in events)


def _reason(event: CallEvent | None, default: str) -> str:
    return str(event.fields.get("param") or default) if event is not None else default
