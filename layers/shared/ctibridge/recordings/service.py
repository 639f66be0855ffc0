"""One recording job: read the call, fetch its recording (SSRF-guarded), store it in S3, note it on the call.

Idempotent: a job for a call whose recording is already stored (or refused for good) does nothing, so
the webhook may enqueue again whenever it is unsure the first job went out, and SQS may deliver twice.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from ctibridge.calls.models import RecordingState
from ctibridge.calls.repository import CallRepository, StoredRecording
from ctibridge.calls.repository import repository as call_repository
from ctibridge.delivery import hooks as crm_delivery
from ctibridge.observability import logger
from ctibridge.recordings import store
from ctibridge.recordings.fetch import FetchError, RecordingFetcher
from ctibridge.recordings.jobs import RecordingJob
from ctibridge.settings import get_settings
from ctibridge.tenants.repository import get_by_customer

FetcherFactory = Callable[[list[str]], RecordingFetcher]


class Outcome(StrEnum):
    STORED = "stored"
    ALREADY_DONE = "already_done"  # stored or refused before: nothing to do
    NO_RECORDING = "no_recording"
    CALL_NOT_FOUND = "call_not_found"
    TENANT_NOT_FOUND = "tenant_not_found"
    REFUSED = "refused"  # refused for good; the reason is on the call (recording_error)
    SUPERSEDED = "superseded"  # the call's recording URL changed while we downloaded


def default_fetcher(allowed_hosts: list[str]) -> RecordingFetcher:
    settings = get_settings()
    return RecordingFetcher(
        allowed_hosts=allowed_hosts,
        max_bytes=settings.recording_max_bytes,
        timeout_seconds=settings.recording_fetch_timeout_seconds,
        max_redirects=settings.recording_max_redirects,
    )


def process(
    job: RecordingJob,
    *,
    calls: CallRepository | None = None,
    fetcher_factory: FetcherFactory | None = None,
) -> Outcome:
    """Run ``job``. Raises :class:`FetchError` (retryable) or AWS errors for the caller to retry."""
    calls = calls or call_repository()
    logger.append_keys(tenant=job.tenant_id, callid=job.callid)
    call = calls.get(job.tenant_id, job.callid)
    if call is None:
        logger.warning("recording job for an unknown call")
        return Outcome.CALL_NOT_FOUND
    url = call.recording_url
    if not url:
        return Outcome.NO_RECORDING
    if call.recording_state in (RecordingState.STORED, RecordingState.FAILED):
        if call.recording_state is RecordingState.STORED and call.recording_s3_key:
            # A job retried after the store: announce it again in case the first enqueue failed (the
            # stable event id makes the CRM receive recording.ready once; issue 10).
            crm_delivery.recording_stored(
                job.tenant_id,
                job.callid,
                s3_key=call.recording_s3_key,
                size=call.recording_size,
                sha256=call.recording_sha256,
                content_type=call.recording_content_type,
            )
        return Outcome.ALREADY_DONE
    tenant = get_by_customer(job.tenant_id)
    if tenant is None:
        logger.warning("recording job for an unknown tenant")
        return Outcome.TENANT_NOT_FOUND

    fetcher = (fetcher_factory or default_fetcher)(list(tenant.recording_hosts_allowed))
    try:
        fetched = fetcher.fetch(url)
    except FetchError as error:
        if error.retryable:
            raise
        logger.warning("recording refused", extra={"code": error.code, "reason": str(error)})
        calls.mark_recording_failed(job.tenant_id, job.callid, url, error.code)
        return Outcome.REFUSED

    bucket = get_settings().recordings_bucket
    if not bucket:
        raise RuntimeError("RECORDINGS_BUCKET is not set for this function")
    with fetched:
        key = store.object_key(job.tenant_id, job.callid, call.started_at, fetched.extension)
        store.put(
            bucket,
            key,
            fetched.file,
            content_type=fetched.content_type,
            sha256_hex=fetched.sha256,
            metadata={"tenant": job.tenant_id, "source-host": fetched.host},
        )
    saved = calls.save_recording(
        job.tenant_id,
        job.callid,
        url,
        StoredRecording(
            s3_key=key, size=fetched.size, sha256=fetched.sha256, content_type=fetched.content_type
        ),
    )
    logger.info(
        "recording stored" if saved else "recording superseded",
        extra={"size": fetched.size, "content_type": fetched.content_type, "source_host": fetched.host},
    )
    if saved:
        # recording.ready for the CRM (issue 10); if SQS refuses, the job fails and its retry, finding
        # the recording stored, announces it again (above).
        crm_delivery.recording_stored(
            job.tenant_id,
            job.callid,
            s3_key=key,
            size=fetched.size,
            sha256=fetched.sha256,
            content_type=fetched.content_type,
        )
    return Outcome.STORED if saved else Outcome.SUPERSEDED
