"""Fan-out of PBX call events to the agent's open tabs (ring popups).

The webhook path calls :func:`send_popup` (a ring before it stores the event: the phone rings now; a
call's end after). In order:

1. for ringing and outgoing calls of a tenant with a ``crm_lookup_url``, the CRM is asked who the
   number is, on another thread;
2. the popup (``call.ringing``/``call.outgoing``/``call.ended``) goes to every tab of the extension at
   once: one Query for the tabs, concurrent posts. Nothing waits in front of it;
3. if the CRM answered by the time the tabs were known, the contact rode in the popup itself;
   otherwise ``SentPopup.follow_up`` sends it as ``call.contact`` when it arrives, at most
   ``LOOKUP_TIMEOUT_SECONDS`` after the event. A slow or failing CRM delays nothing and costs only the
   missing name.

The agent's call state (idle/ringing/in_call, read by click-to-call and transfer) is not written here:
the webhook queues it (``realtime.call_state_jobs``), so its writes never sit on the PBX's request.

Delivery problems are logged, never raised: failing the webhook would make the PBX send it again (a
duplicate popup) without helping the tab that missed it.
"""

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ctibridge import connections
from ctibridge.observability import count, logger
from ctibridge.realtime import fanout, screen_pop
from ctibridge.realtime.messages import CallContact, CallEnded, CallOutgoing, CallRinging, Contact
from ctibridge.realtime.presence import CallEventKind
from ctibridge.tenants import repository

_MODELS: dict[str, type[CallRinging | CallOutgoing | CallEnded]] = {
    "ringing": CallRinging,
    "outgoing": CallOutgoing,
    "ended": CallEnded,
}
# Separate from the fan-out's pool: these tasks run beside a fan-out that may itself wait on that pool.
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="call-event")
        return _executor


def build_message(
    tenant_id: str, extension: str, kind: CallEventKind, data: dict[str, Any]
) -> CallRinging | CallOutgoing | CallEnded:
    """The popup for a PBX event; raises ValidationError for an event without a callid or phone."""
    model = _MODELS[kind]
    fields = {
        name: data[name]
        for name in model.model_fields
        if name not in ("type", "ts", "v", "contact") and data.get(name) is not None
    }
    fields |= {"extension": extension, "customer": data.get("customer") or tenant_id}
    fields.setdefault("direction", "outbound" if kind == "outgoing" else "inbound")
    if kind == "ended":
        fields.setdefault("phone", "")  # a call log without the number still ends the call
    return model.model_validate(fields)


def _crm_lookup(tenant_id: str) -> tuple[str | None, list[str]]:
    """The tenant's CRM lookup URL and the private hosts it may be on (``outbound_guard``)."""
    # Cached (the webhook path has just loaded this tenant): no read in front of the popup.
    tenant = repository.get_by_customer(tenant_id)
    return (tenant.crm_lookup_url, tenant.crm_hosts_allowed) if tenant is not None else (None, [])


@dataclass
class SentPopup:
    """A popup that went out; ``follow_up`` sends the CRM's contact behind it if it came in time."""

    message: CallRinging | CallOutgoing | CallEnded | None = None
    delivery: fanout.Delivery = field(default_factory=fanout.Delivery)
    contact: Future[Contact | None] | None = None
    started: float = field(default_factory=time.monotonic)

    def follow_up(self) -> None:
        """Wait for the contact at most until ``LOOKUP_TIMEOUT_SECONDS`` after the event, then send it."""
        if self.contact is None or self.message is None:
            return
        log = {"callid": self.message.callid, "kind": self.message.type}
        remaining = screen_pop.LOOKUP_TIMEOUT_SECONDS - (time.monotonic() - self.started)
        try:
            found = self.contact.result(timeout=max(0.0, remaining))
        except FutureTimeout:
            found = None
            logger.info("crm lookup too slow; popup went without the contact", extra=log)
        except Exception:
            found = None
            logger.exception("crm lookup failed", extra=log)
        if found is not None and self.delivery.delivered:
            fanout.send_to_connections(
                self.delivery.delivered,
                CallContact(callid=self.message.callid, phone=self.message.phone, contact=found),
            )


def send_popup(tenant_id: str, extension: str, kind: CallEventKind, data: dict[str, Any]) -> SentPopup:
    """Push ``call.<kind>`` with ``data`` to every tab of ``extension`` in ``tenant_id``, now.

    Returns as soon as the frames are out; the CRM's contact (if the tenant has a lookup URL and the
    CRM was slower than the popup) follows with ``SentPopup.follow_up``, which the caller runs when it
    has nothing more urgent to do.
    """
    started = time.monotonic()
    try:
        message = build_message(tenant_id, extension, kind, data)
    except ValidationError as error:
        logger.warning(
            "call event not published: invalid",
            extra={
                "tenant": tenant_id,
                "kind": kind,
                "fields": [".".join(map(str, e["loc"])) for e in error.errors()],
            },
        )
        return SentPopup(started=started)
    log = {"tenant": tenant_id, "extension": extension, "callid": message.callid, "kind": kind}
    contact: Future[Contact | None] | None = None
    if isinstance(message, CallRinging | CallOutgoing):
        try:
            url, allowed_hosts = _crm_lookup(tenant_id)
        except Exception:  # the popup matters more than the contact
            logger.exception("tenant lookup failed; popup without the contact", extra=log)
            url, allowed_hosts = None, []
        if url:
            contact = _background().submit(
                screen_pop.lookup, url, message.phone, message.phone_e164, allowed_hosts=allowed_hosts
            )

    try:
        targets = connections.for_agent(tenant_id, extension, only_for_posting=True)
        if contact is not None and contact.done() and contact.exception() is None and contact.result():
            message = message.model_copy(update={"contact": contact.result()})
            contact = None
        delivery = fanout.send_to_connections(targets, message)
    except Exception:  # see the module docstring: logged, never raised
        logger.exception("call event popup failed", extra=log)
        delivery = fanout.Delivery()

    logger.info(
        "call event published",
        extra={**log, "tabs": delivery.count, "gone": len(delivery.gone), "failed": len(delivery.failed)},
    )
    count("PopupsSent", delivery.count)
    count("PopupsGone", len(delivery.gone))
    count("PopupsFailed", len(delivery.failed))
    return SentPopup(message=message, delivery=delivery, contact=contact, started=started)


__all__ = ["CallEventKind", "SentPopup", "build_message", "send_popup"]
