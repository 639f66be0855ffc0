"""Click-to-call requests in the table: one item each, moved forward only by conditional updates."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ctibridge import aws, keys
from ctibridge.click2call.models import STATUS_RANK, OutboundRequest, Status
from ctibridge.settings import get_settings

RETENTION_SECONDS = 90 * 24 * 3600  # a CRM may look a request up for a quarter


def _table() -> Any:
    return aws.table(get_settings().table_name)


def put(request: OutboundRequest) -> None:
    item = {
        **keys.outbound_request(request.tenant_id, request.request_id),
        **request.model_dump(mode="json", exclude_none=True),
        "status_rank": STATUS_RANK[request.status],
        "expires_at": int(time.time()) + RETENTION_SECONDS,
    }
    _table().put_item(Item=item, ConditionExpression="attribute_not_exists(PK)")


def get(tenant_id: str, request_id: str) -> OutboundRequest | None:
    item = (
        _table().get_item(Key=keys.outbound_request(tenant_id, request_id), ConsistentRead=True).get("Item")
    )
    return OutboundRequest.model_validate(item) if item else None


def advance(
    tenant_id: str,
    request_id: str,
    status: Status,
    *,
    error_code: str | None = None,
    sip_code: int | None = None,
    callid: str | None = None,
) -> OutboundRequest | None:
    """Move the request to ``status`` if that is forward (or the same); None if nothing changed.

    Reports arrive from the webphone and from the PBX's call log, late and repeated; the rank
    condition makes the order they arrive in irrelevant.
    """
    names = {"#status": "status", "#rank": "status_rank", "#updated": "updated_at"}
    values: dict[str, Any] = {
        ":status": status.value,
        ":rank": STATUS_RANK[status],
        ":updated": datetime.now(UTC).isoformat(),
    }
    sets = ["#status = :status", "#rank = :rank", "#updated = :updated"]
    for attribute, value in (("error_code", error_code), ("sip_code", sip_code), ("callid", callid)):
        if value is not None:
            names[f"#{attribute}"] = attribute
            values[f":{attribute}"] = value
            sets.append(f"#{attribute} = :{attribute}")
    try:
        item = _table().update_item(
            Key=keys.outbound_request(tenant_id, request_id),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="attribute_exists(PK) AND (#rank < :rank OR #status = :status)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return None
        raise
    return OutboundRequest.model_validate(item)
