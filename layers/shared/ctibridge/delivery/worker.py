"""Delivering one DeliveryQueue message: one event to one CRM endpoint, then retry, done or dead letter.

For each message:

1. the tenant and the endpoint are read (a removed endpoint, or one that no longer takes the event's
   type, ends the delivery: skipped);
2. the delivery is **claimed** (``store.DeliveryStore.claim``): a conditional write that fails if the
   delivery already succeeded, so a message SQS delivers twice, a PBX re-send or a replay never makes
   the CRM receive an event twice (the stable event id covers the one remaining window: a crash
   between the CRM's 2xx and our write);
3. the requests are built (``seed004`` or Standard Webhooks JSON signed with the endpoint's secret,
   plus the auth option) and sent with httpx (connect timeout ~3 s, read ~10 s, no redirects, no
   environment proxies, pinned to a checked address: ``guard``):
   * ``failover``: the main URL, then each backup in order, until one answers 2xx;
   * ``parallel``: every URL at once; each must answer 2xx, and a retry goes only to those that did not;
4. every request is recorded as an attempt; the state records the outcome;
5. on failure the message is hidden for the backoff delay (``retry``) and reported failed to SQS, or,
   once it has been retried for the whole window (24 h by default), moved to the dead-letter queue.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
from pydantic import ValidationError

from ctibridge import aws, outbound_http
from ctibridge.delivery import retry, seed004, signing
from ctibridge.delivery.enqueue import message_group_id
from ctibridge.delivery.guard import DestinationError, resolve
from ctibridge.delivery.models import (
    AuthType,
    CrmEndpoint,
    DeliveryMessage,
    DeliveryMode,
    EndpointFormat,
    EndpointSecrets,
    EventType,
    OutboundEvent,
    OutgoingRequest,
    format_timestamp,
    public_url,
)
from ctibridge.delivery.store import Attempt, AttemptStatus, DeliveryStatus, DeliveryStore, Outcome
from ctibridge.errors import CtiError
from ctibridge.observability import count, logger
from ctibridge.outbound_guard import Resolver, system_resolver
from ctibridge.settings import Settings, get_settings
from ctibridge.tenants import repository as tenants
from ctibridge.tenants.models import Tenant, TenantSecrets
from ctibridge.tenants.secrets import get_secrets, reread_secrets

USER_AGENT = "CTIBridge-Webhooks/1"
LEASE_SECONDS = 120  # longer than one message can take (3 URLs x (connect + read)), shorter than a retry
_MAX_RESPONSE_BYTES = 64 * 1024  # read (and dropped) so the connection can be reused
# A CRM answering these refused our credentials: the secrets are re-read, and if they were rotated the
# retry comes after this delay instead of the backoff (a rotation takes effect at once, not in 5 min).
_CREDENTIALS_REFUSED = frozenset({401, 403})
ROTATED_SECRETS_RETRY_SECONDS = 1


class ResultKind(StrEnum):
    DELIVERED = "delivered"
    ALREADY_DELIVERED = "already_delivered"
    SKIPPED = "skipped"
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True)
class Result:
    kind: ResultKind
    delay_seconds: int | None = None  # RETRY: hide the message this long
    reason: str | None = None  # the last error code (RETRY, DEAD) or why it was skipped
    attempt: int = 0
    last_http_status: int | None = None


class DeliveryConfigError(Exception):
    """The endpoint cannot be delivered to as configured (a secret missing...); retried like a failure."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RetryLater(Exception):
    """Raised by :func:`handle_record` after hiding the message: SQS keeps it for the next attempt."""


def target_key(url: str) -> str:
    """How parallel mode remembers a URL that has the event (URLs are not stored in the state)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def auth_headers(endpoint: CrmEndpoint, secrets: EndpointSecrets | None) -> dict[str, str]:
    auth = endpoint.auth
    if auth.type is AuthType.NONE:
        return {}
    credential = secrets.credential.get_secret_value() if secrets and secrets.credential else None
    if not credential:
        raise DeliveryConfigError(
            "ENDPOINT_CREDENTIAL_MISSING", f"No credential stored for endpoint {endpoint.id}."
        )
    if auth.type is AuthType.API_KEY:
        return {auth.header: credential}
    if auth.type is AuthType.BEARER:
        return {"Authorization": f"Bearer {credential}"}
    token = base64.b64encode(f"{auth.username}:{credential}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def _hydrate(event: OutboundEvent, settings: Settings) -> OutboundEvent:
    """recording.ready gets a presigned URL made now: one made at enqueue time may have expired."""
    if event.type is not EventType.RECORDING_READY or not event.recording_key:
        return event
    from ctibridge.recordings import store as recordings

    bucket = settings.recordings_bucket
    if not bucket:
        raise DeliveryConfigError(
            "RECORDINGS_BUCKET_UNSET", "RECORDINGS_BUCKET is not set for this function."
        )
    ttl = settings.delivery_recording_url_ttl_seconds
    extension = event.recording_key.rsplit(".", 1)[-1]
    filename = "".join(
        c if c.isalnum() or c in "._-" else "_" for c in f"{event.tenant}-{event.callid}.{extension}"
    )
    url = recordings.presign_get(bucket, event.recording_key, expires_in=ttl, filename=filename)
    expires = datetime.now(UTC) + timedelta(seconds=ttl)
    data = {
        **event.data,
        "recording_url": url,
        "recording_url_expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return event.model_copy(update={"data": data})


def build_requests(
    tenant: Tenant,
    endpoint: CrmEndpoint,
    event: OutboundEvent,
    tenant_secrets: TenantSecrets,
    *,
    timestamp: int,
) -> list[OutgoingRequest]:
    """The request for each of the endpoint's URLs, in order (main first)."""
    secrets = tenant_secrets.crm_endpoint_secrets.get(endpoint.id)
    extra = {"User-Agent": USER_AGENT, **auth_headers(endpoint, secrets)}
    if endpoint.format is EndpointFormat.SEED004:
        crm_secret = tenant_secrets.crm_secret.get_secret_value()
        requests = [seed004.build_request(url, tenant.tenant_id, crm_secret, event) for url in endpoint.urls]
        return [
            OutgoingRequest(r.method, r.url, r.params, {**r.headers, **extra}, r.content) for r in requests
        ]
    signing_secret = secrets.signing_secret.get_secret_value() if secrets and secrets.signing_secret else None
    if not signing_secret:
        raise DeliveryConfigError(
            "ENDPOINT_SECRET_MISSING", f"No signing secret stored for endpoint {endpoint.id}."
        )
    body = json.dumps(event.body(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    try:
        signed = signing.sign_headers(signing_secret, event.id, body, timestamp)
    except ValueError:
        raise DeliveryConfigError(
            "ENDPOINT_SECRET_INVALID", f"The signing secret of {endpoint.id} is invalid."
        ) from None
    headers = {"Content-Type": "application/json", **signed, **extra}
    return [OutgoingRequest("POST", url, [], headers, body) for url in endpoint.urls]


# ---------------------------------------------------------------- HTTP

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def default_client(settings: Settings) -> httpx.Client:
    """One pooled client per container (keep-alive to the CRM across invocations)."""
    global _client
    with _client_lock:
        if _client is None:
            # No redirects (a 3xx is a failure: the endpoint URL is what the tenant set), no environment
            # proxy (it would connect after our address check): outbound_http's defaults.
            _client = outbound_http.client(
                timeout=httpx.Timeout(
                    connect=settings.delivery_connect_timeout_seconds,
                    read=settings.delivery_read_timeout_seconds,
                    write=settings.delivery_read_timeout_seconds,
                    pool=settings.delivery_connect_timeout_seconds,
                ),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            )
        return _client


def _failure(target: int, url: str, started: float, at: datetime, code: str, message: str) -> Attempt:
    latency = int((time.monotonic() - started) * 1000)
    return Attempt(target, public_url(url), AttemptStatus.FAILED, at, latency, error_code=code, error=message)


def _tls_failure(error: BaseException) -> tuple[str, str] | None:
    """The code and reason of a TLS failure behind a connect error (a CRM developer must tell a bad
    certificate from a server that is down), or None."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return "TLS_CERTIFICATE_INVALID", f"TLS certificate refused ({seen.verify_message})"
        if isinstance(seen, ssl.SSLError):
            return "TLS_FAILED", f"TLS handshake failed ({seen.reason or type(seen).__name__})"
        seen = seen.__cause__ or seen.__context__
    return None


def _drain(response: httpx.Response) -> None:
    """Read (and drop) some of the body so the connection can be reused. The status is the CRM's answer:
    a body that is slow, cut or endless after it changes nothing (the connection is then closed)."""
    read = 0
    try:
        for chunk in () if response.is_stream_consumed else response.iter_raw():
            read += len(chunk)
            if read > _MAX_RESPONSE_BYTES:
                break
    except httpx.HTTPError:
        pass


def send_one(
    client: httpx.Client,
    request: OutgoingRequest,
    target: int,
    *,
    allow_private_network: bool,
    resolver: Resolver,
    now: Callable[[], datetime],
    deadline_seconds: float,
) -> Attempt:
    """Send one request within ``deadline_seconds``; the attempt as recorded (never raises for HTTP or
    network failures)."""
    at = now()
    started = time.monotonic()
    host = httpx.URL(request.url).host
    try:
        destination = resolve(request.url, allow_private_network=allow_private_network, resolver=resolver)
        built = client.build_request(
            request.method,
            destination.target,
            params=tuple(request.params) if request.params else None,
            headers={**request.headers, **destination.headers},
            content=request.content,
            extensions=destination.extensions,
        )
        # One deadline for the whole request (httpx's timeouts are per socket read): a CRM trickling its
        # answer would otherwise hold the worker past the Lambda timeout, with nothing recorded and the
        # backup URLs never tried.
        with outbound_http.deadline(deadline_seconds):
            response = client.send(built, stream=True)
            try:
                _drain(response)
            finally:
                response.close()
    except DestinationError as error:
        return _failure(target, request.url, started, at, error.code, str(error))
    except httpx.ConnectTimeout:
        return _failure(target, request.url, started, at, "CONNECT_TIMEOUT", f"{host}: connect timed out")
    except httpx.TimeoutException:
        return _failure(target, request.url, started, at, "TIMEOUT", f"{host}: no answer in time")
    except httpx.ConnectError as error:
        tls = _tls_failure(error)
        if tls is not None:
            return _failure(target, request.url, started, at, tls[0], f"{host}: {tls[1]}")
        return _failure(target, request.url, started, at, "CONNECT_FAILED", f"{host}: connection failed")
    except httpx.HTTPError as error:
        return _failure(
            target, request.url, started, at, "TRANSPORT_ERROR", f"{host}: {type(error).__name__}"
        )
    latency = int((time.monotonic() - started) * 1000)
    status = response.status_code
    if 200 <= status < 300:
        return Attempt(
            target, public_url(request.url), AttemptStatus.SUCCEEDED, at, latency, http_status=status
        )
    return Attempt(
        target,
        public_url(request.url),
        AttemptStatus.FAILED,
        at,
        latency,
        http_status=status,
        error_code=f"HTTP_{status}",
        error=f"{host} answered {status}",
        retry_after_seconds=retry.retry_after(response.headers.get("retry-after"), at),
    )


# ---------------------------------------------------------------- one message


class Deliverer:
    """Delivers messages; every collaborator can be replaced in tests."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        store: DeliveryStore | None = None,
        client: httpx.Client | None = None,
        resolver: Resolver = system_resolver,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: Callable[[], float] = random.random,
        get_tenant: Callable[[str], Tenant | None] | None = None,
        get_tenant_secrets: Callable[[str], TenantSecrets] = get_secrets,
        reread_tenant_secrets: Callable[[str], TenantSecrets] | None = None,
        get_fresh_tenant: Callable[[str], Tenant | None] | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        table = self.settings.table_name
        self.get_fresh_tenant = get_fresh_tenant or (
            lambda tenant_id: tenants.TenantRepository(table).get_tenant(tenant_id, consistent=True)
        )
        self.store = store or DeliveryStore(self.settings.table_name)
        self.client = client or default_client(self.settings)
        self.resolver = resolver
        self.now = now
        self.rng = rng
        # Read fresh for each message (one GetItem beside an HTTP request): an endpoint removed or
        # changed by the CLI is seen by the very next delivery, not after a cache TTL.
        self.get_tenant = get_tenant or self.get_fresh_tenant
        self.get_tenant_secrets = get_tenant_secrets
        # A cached copy that lacks the endpoint's secret (an endpoint added after it was cached) is
        # re-read once before the delivery fails.
        self.reread_tenant_secrets = reread_tenant_secrets or reread_secrets

    @staticmethod
    def _endpoint(tenant: Tenant | None, endpoint_id: str) -> CrmEndpoint | None:
        if tenant is None:
            return None
        return next((e for e in tenant.crm_endpoints if e.id == endpoint_id), None)

    def _request_deadline_seconds(self) -> float:
        """The most one request may take, body included: connect, then the read timeout to answer."""
        return self.settings.delivery_connect_timeout_seconds + self.settings.delivery_read_timeout_seconds

    def process(
        self,
        message: DeliveryMessage,
        *,
        queued_at: datetime,
        receive_count: int = 1,
        remaining_seconds: Callable[[], float] | None = None,
    ) -> Result:
        """Deliver ``message`` once; what to do with it next is in the result."""
        tenant = self.get_tenant(message.tenant)
        endpoint = self._endpoint(tenant, message.endpoint_id)
        if endpoint is None:
            # The cached tenant may predate the endpoint (another function's cache queued the event):
            # read it fresh before skipping anything.
            tenant = self.get_fresh_tenant(message.tenant)
            endpoint = self._endpoint(tenant, message.endpoint_id)
        if tenant is None or endpoint is None or not endpoint.accepts(message.event.type):
            reason = "TENANT_NOT_FOUND" if tenant is None else "ENDPOINT_REMOVED"
            logger.info("delivery skipped", extra={"reason": reason})
            return Result(ResultKind.SKIPPED, reason=reason)

        now = self.now()
        expires_at = int(now.timestamp()) + self.settings.delivery_record_ttl_days * 86400
        claim = self.store.claim(message, now=now, lease_seconds=LEASE_SECONDS, expires_at=expires_at)
        if not claim.granted:
            if claim.already_delivered:
                logger.info("delivery already done; nothing sent")
                return Result(ResultKind.ALREADY_DELIVERED)
            # Another worker holds the lease (SQS delivered the message twice): look again later.
            return Result(ResultKind.RETRY, delay_seconds=LEASE_SECONDS, reason="LEASED")

        attempts: list[Attempt] = []
        secrets_changed = False
        try:
            attempts, delivered, secrets_changed = self._attempt(
                tenant, endpoint, message, claim.delivered_targets, remaining_seconds
            )
        except Exception as error:
            # A config problem or AWS error before any request: recorded, and the lease released below.
            if isinstance(error, DeliveryConfigError | CtiError):
                code, text = error.code, str(error)  # our own messages: no secret, no URL query
            else:
                code = text = type(error).__name__
                logger.exception("delivery preparation failed")
            logger.warning("delivery not attempted", extra={"code": code})
            attempts = [_failure(0, endpoint.url, time.monotonic(), self.now(), code, text)]
            delivered = False
        return self._conclude(
            message,
            claim.attempt,
            attempts,
            delivered,
            queued_at,
            receive_count,
            expires_at,
            retry_soon=secrets_changed,
        )

    def _attempt(
        self,
        tenant: Tenant,
        endpoint: CrmEndpoint,
        message: DeliveryMessage,
        delivered_targets: frozenset[str],
        remaining_seconds: Callable[[], float] | None,
    ) -> tuple[list[Attempt], bool, bool]:
        """The attempts, whether the event was delivered, and whether the CRM refused credentials that
        were since rotated (the retry then comes at once, with the new ones)."""
        event = _hydrate(message.event, self.settings)
        timestamp = int(time.time())
        try:
            requests = build_requests(
                tenant, endpoint, event, self.get_tenant_secrets(tenant.tenant_id), timestamp=timestamp
            )
        except DeliveryConfigError:
            # What the endpoint needs may be newer than the cached secrets: read them again, once.
            requests = build_requests(
                tenant, endpoint, event, self.reread_tenant_secrets(tenant.tenant_id), timestamp=timestamp
            )
        attempts, delivered = self._send(endpoint, message, requests, delivered_targets, remaining_seconds)
        if delivered or not any(a.http_status in _CREDENTIALS_REFUSED for a in attempts):
            return attempts, delivered, False
        # The CRM refused what we sent as credentials (signature, seed 004 secret, auth option): if the
        # operator rotated them since this worker cached the secrets (endpoint re-added, rotate-key
        # --kind crm), the requests made with a fresh copy differ, and the retry uses it.
        try:
            fresh = self.reread_tenant_secrets(tenant.tenant_id)
            rebuilt = build_requests(tenant, endpoint, event, fresh, timestamp=timestamp)
        except DeliveryConfigError:
            return attempts, delivered, False
        return attempts, delivered, rebuilt != requests

    def _send(
        self,
        endpoint: CrmEndpoint,
        message: DeliveryMessage,
        requests: list[OutgoingRequest],
        delivered_targets: frozenset[str],
        remaining_seconds: Callable[[], float] | None,
    ) -> tuple[list[Attempt], bool]:

        def send(index: int) -> Attempt:
            return send_one(
                self.client,
                requests[index],
                index,
                allow_private_network=endpoint.allow_private_network,
                resolver=self.resolver,
                now=self.now,
                deadline_seconds=self._request_deadline_seconds(),
            )

        if endpoint.mode is DeliveryMode.PARALLEL:
            pending = [i for i, url in enumerate(endpoint.urls) if target_key(url) not in delivered_targets]
            with ThreadPoolExecutor(max_workers=max(1, len(pending))) as pool:
                attempts = list(pool.map(send, pending))
            for entry in attempts:
                if entry.status is AttemptStatus.SUCCEEDED:
                    url = endpoint.urls[entry.target]
                    self.store.mark_target_delivered(message.tenant, message.delivery_id, target_key(url))
            return attempts, all(a.status is AttemptStatus.SUCCEEDED for a in attempts)

        attempts = []
        for index in range(len(requests)):
            if (
                attempts
                and remaining_seconds is not None
                and remaining_seconds() < self._request_deadline_seconds() + 5
            ):
                break  # no time left for another URL in this invocation: the retry starts with the main URL
            attempt = send(index)
            attempts.append(attempt)
            if attempt.status is AttemptStatus.SUCCEEDED:
                return attempts, True
        return attempts, False

    def _conclude(
        self,
        message: DeliveryMessage,
        attempt: int,
        attempts: list[Attempt],
        delivered: bool,
        queued_at: datetime,
        receive_count: int,
        expires_at: int,
        *,
        retry_soon: bool = False,
    ) -> Result:
        now = self.now()
        last = attempts[-1] if attempts else None
        last_failed = next((a for a in reversed(attempts) if a.status is AttemptStatus.FAILED), None)
        if delivered:
            self.store.record_attempts(message, attempt, attempts, Outcome(), expires_at=expires_at)
            self.store.finish(
                message.tenant,
                message.delivery_id,
                DeliveryStatus.DELIVERED,
                now=now,
                last_http_status=last.http_status if last else None,
            )
            logger.info("delivered", extra={"attempt": attempt, "requests": len(attempts)})
            return Result(
                ResultKind.DELIVERED, attempt=attempt, last_http_status=last.http_status if last else None
            )

        reason = last_failed.error_code if last_failed else "FAILED"
        http_status = last_failed.http_status if last_failed else None
        elapsed = (now - queued_at).total_seconds()
        settings = self.settings
        if retry.exhausted(elapsed, settings.delivery_retry_window_seconds):
            self.store.record_attempts(
                message, attempt, attempts, Outcome(dead_lettered=True), expires_at=expires_at
            )
            self.store.finish(
                message.tenant,
                message.delivery_id,
                DeliveryStatus.FAILED,
                now=now,
                last_http_status=http_status,
                last_error=reason,
            )
            logger.warning(
                "delivery failed for good; to the dead-letter queue",
                extra={"attempt": attempt, "code": reason},
            )
            return Result(ResultKind.DEAD, reason=reason, attempt=attempt, last_http_status=http_status)

        delay = retry.retry_delay(
            receive_count, settings.delivery_retry_base_seconds, settings.delivery_retry_max_seconds, self.rng
        )
        if retry_soon:
            delay = ROTATED_SECRETS_RETRY_SECONDS
        # A CRM that asked for a pause (429 or 503 with Retry-After) gets it, up to the backoff's cap.
        asked = max((a.retry_after_seconds or 0 for a in attempts), default=0)
        delay = max(delay, min(asked, settings.delivery_retry_max_seconds))
        next_at = now + timedelta(seconds=delay)
        self.store.record_attempts(
            message,
            attempt,
            attempts,
            Outcome(will_retry=True, next_attempt_at=next_at),
            expires_at=expires_at,
        )
        self.store.finish(
            message.tenant,
            message.delivery_id,
            DeliveryStatus.RETRYING,
            now=now,
            last_http_status=http_status,
            last_error=reason,
            next_attempt_at=next_at,
        )
        logger.info(
            "delivery failed; will retry",
            extra={"attempt": attempt, "code": reason, "retry_in_seconds": delay},
        )
        return Result(
            ResultKind.RETRY,
            delay_seconds=delay,
            reason=reason,
            attempt=attempt,
            last_http_status=http_status,
        )


# ---------------------------------------------------------------- the SQS side


def _delivery_queue_url(settings: Settings) -> str:
    if not settings.delivery_queue_url:
        raise RuntimeError("DELIVERY_QUEUE_URL is not set for this function")
    return settings.delivery_queue_url


def dead_letter(
    body: str,
    *,
    group_id: str,
    deduplication_id: str,
    reason: str,
    attempt: int = 0,
    last_http_status: int | None = None,
    settings: Settings | None = None,
) -> None:
    """Move a message to the delivery dead-letter queue, with why (``ctibridge events replay --dlq``)."""
    settings = settings or get_settings()
    url = settings.delivery_dead_letter_queue_url
    if not url:
        raise RuntimeError("DELIVERY_DEAD_LETTER_QUEUE_URL is not set for this function")
    attributes = {
        "reason": {"DataType": "String", "StringValue": reason[:256]},
        "attempts": {"DataType": "Number", "StringValue": str(attempt)},
        "dead_lettered_at": {"DataType": "String", "StringValue": format_timestamp(datetime.now(UTC))},
    }
    if last_http_status is not None:
        attributes["last_http_status"] = {"DataType": "Number", "StringValue": str(last_http_status)}
    aws.client("sqs").send_message(
        QueueUrl=url,
        MessageBody=body,
        MessageGroupId=group_id,
        MessageDeduplicationId=deduplication_id[:128],
        MessageAttributes=attributes,
    )


def hide(receipt_handle: str, seconds: int, settings: Settings | None = None) -> None:
    """Hide a failed message for its backoff delay (it comes back to a worker after that)."""
    settings = settings or get_settings()
    aws.client("sqs").change_message_visibility(
        QueueUrl=_delivery_queue_url(settings), ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
    )


_deliverer: Deliverer | None = None


def deliverer() -> Deliverer:
    global _deliverer
    if _deliverer is None:
        _deliverer = Deliverer()
    return _deliverer


_RESULT_METRICS = {
    ResultKind.DELIVERED: "DeliveriesSucceeded",
    ResultKind.RETRY: "DeliveriesFailed",
    ResultKind.DEAD: "DeliveriesDeadLettered",
}


def handle_record(record: Any, remaining_seconds: Callable[[], float] | None = None) -> str:
    """One SQS record (Powertools ``SQSRecord``): deliver, or hide and raise :class:`RetryLater`."""
    attributes = record.attributes
    sent_ms = int(attributes.sent_timestamp or time.time() * 1000)
    receive_count = int(attributes.approximate_receive_count or 1)
    try:
        message = DeliveryMessage.model_validate_json(record.body)
    except ValidationError:
        # It can never be delivered: straight to the dead-letter queue, for a human to look at.
        logger.error("malformed delivery message; dead-lettered")
        dead_letter(
            record.body,
            group_id=attributes.message_group_id or record.message_id,
            deduplication_id=f"malformed:{record.message_id}",
            reason="MALFORMED",
        )
        return ResultKind.DEAD.value
    logger.append_keys(
        tenant=message.tenant,
        delivery_id=message.delivery_id,
        event_id=message.event.id,
        event_type=message.event.type.value,
        endpoint_id=message.endpoint_id,
        callid=message.event.callid,
    )
    result = deliverer().process(
        message,
        queued_at=datetime.fromtimestamp(sent_ms / 1000, UTC),
        receive_count=receive_count,
        remaining_seconds=remaining_seconds,
    )
    metric = _RESULT_METRICS.get(result.kind)
    if metric is not None:
        count(metric)
    if result.kind is ResultKind.RETRY:
        try:
            hide(record.receipt_handle, result.delay_seconds or 1)
        except Exception:
            logger.exception("could not delay the retry; the queue's visibility timeout applies")
        raise RetryLater(result.reason or "delivery failed")
    if result.kind is ResultKind.DEAD:
        dead_letter(
            record.body,
            group_id=attributes.message_group_id or message_group_id(message),
            deduplication_id=f"{message.delivery_id}:dead:{sent_ms}",
            reason=result.reason or "FAILED",
            attempt=result.attempt,
            last_http_status=result.last_http_status,
        )
    return result.kind.value
