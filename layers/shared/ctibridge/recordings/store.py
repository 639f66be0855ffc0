"""Recordings in S3: tenant-scoped keys, integrity-checked uploads, short-lived presigned GETs.

Keys: ``recordings/{tenant_id}/{YYYY}/{MM}/{DD}/{callid}.{ext}`` (the call's UTC start date). The tenant
is the first variable segment, so an IAM policy or an S3 Access Point can be scoped to one tenant's
prefix, and a tenant's recordings are listed or deleted without touching another's.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import IO, Any
from urllib.parse import quote

from ctibridge import aws

PREFIX = "recordings"
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def object_key(tenant_id: str, callid: str, started_at: str | None, extension: str) -> str:
    """The S3 key of a call's recording; ``started_at`` is the call's UTC ISO start (or None: today)."""
    if not _SAFE_SEGMENT.match(tenant_id):
        raise ValueError("tenant_id is not a safe key segment")
    try:
        day = datetime.fromisoformat((started_at or "").replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        day = datetime.now(UTC)
    # callids are printable ASCII; quoting keeps "/" and friends from creating prefixes of their own.
    name = quote(callid, safe=".-_")
    return f"{PREFIX}/{tenant_id}/{day:%Y/%m/%d}/{name}.{extension}"


def put(
    bucket: str,
    key: str,
    body: IO[bytes],
    *,
    content_type: str,
    sha256_hex: str,
    metadata: dict[str, str],
) -> None:
    """Upload ``body``; S3 verifies the SHA-256 we computed while downloading (ChecksumSHA256)."""
    aws.client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType=content_type,
        ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256_hex)).decode(),
        Metadata={**metadata, "sha256": sha256_hex},
        ServerSideEncryption="AES256",
    )


@lru_cache(maxsize=1)
def _presigner() -> Any:
    # SigV4 explicitly: botocore may still presign S3 with SigV2 on some endpoints, which newer regions
    # refuse and which cannot express an expiry bound.
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client("s3", config=Config(signature_version="s3v4"))


def presign_get(bucket: str, key: str, *, expires_in: int, filename: str | None = None) -> str:
    """A GET URL for ``key`` valid ``expires_in`` seconds (signed with the caller's credentials)."""
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if filename:
        params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
    url: str = _presigner().generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
    return url


def reset() -> None:
    """Forget the cached presigning client (tests switch endpoints)."""
    _presigner.cache_clear()
