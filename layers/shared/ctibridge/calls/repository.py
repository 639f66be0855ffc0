"""DynamoDB access for call records: one conditional UpdateItem per PBX event, GetItem, index Queries.

No Scan anywhere; the webhook path makes exactly one DynamoDB call per event (the merge update, whose
condition also detects duplicates and hands back the stored item, so nothing is read first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ctibridge import aws, keys
from ctibridge.calls import merge
from ctibridge.calls import query as calls_query
from ctibridge.calls.models import CallEvent, CallRecord, format_timestamp
from ctibridge.lazy import TypeDeserializer
from ctibridge.settings import get_settings

# A filtered page is filled by at most this many Queries; past it the page is returned short (but never
# empty), with a cursor, so one request's cost stays bounded however selective the filter is.
MAX_QUERIES_PER_PAGE = 5
# An empty filtered page reads on up to this many Queries (each up to FILTERED_READ_LIMIT items, so
# 20 000 calls of the partition) before it answers empty with a cursor: only a filter matching none of
# that many consecutive calls can see one.
MAX_QUERIES_EMPTY_PAGE = 20
# Items a filtered Query evaluates (DynamoDB applies Limit before the filter).
FILTERED_READ_LIMIT = 1000

_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class MergeResult:
    new: bool  # False: a duplicate delivery, nothing was written
    call: CallRecord  # the record after the event (new) or as stored (duplicate)


@dataclass(frozen=True)
class CallPage:
    items: list[CallRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class StoredRecording:
    s3_key: str
    size: int
    sha256: str
    content_type: str


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _from_low_level(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


class CallRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _table(self) -> Any:
        return aws.table(self.table_name)

    # ------------------------------------------------------------ the webhook path

    def record_event(self, tenant_id: str, event: CallEvent) -> MergeResult:
        """Merge ``event`` into the call's item with one conditional UpdateItem (see ``calls.merge``)."""
        update = merge.plan(tenant_id, event)
        try:
            response = self._table.update_item(
                **merge.to_update_kwargs(update),
                ReturnValues="ALL_NEW",
                # On a duplicate, DynamoDB hands back the stored item with the failure: no extra read.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _error_code(error) != "ConditionalCheckFailedException":
                raise
            old = _from_low_level(dict(error.response.get("Item") or {}))  # type: ignore[call-overload]
            return MergeResult(new=False, call=CallRecord.from_item(old))
        return MergeResult(new=True, call=CallRecord.from_item(response["Attributes"]))

    # ------------------------------------------------------------ reads

    def get(self, tenant_id: str, callid: str) -> CallRecord | None:
        item = self._table.get_item(Key=keys.call(tenant_id, callid)).get("Item")
        return CallRecord.from_item(item) if item else None

    def list_calls(self, tenant_id: str, query: calls_query.CallQuery) -> CallPage:
        """One page of ``tenant_id``'s calls matching ``query``, newest first.

        A filtered page is filled: Queries read on (each evaluating up to ``FILTERED_READ_LIMIT`` items)
        until ``query.limit`` calls matched or the partition ends, within ``MAX_QUERIES_PER_PAGE``. A
        page is never empty while more calls may match: an empty page reads on up to
        ``MAX_QUERIES_EMPTY_PAGE``. The cursor is the last *returned* item's key, so the calls a Query
        read past the page's end are not skipped.
        """
        plan = calls_query.build(tenant_id, query)
        start_key = calls_query.decode_cursor(tenant_id, plan, query.cursor) if query.cursor else None
        raw_items: list[dict[str, Any]] = []
        last_key: dict[str, Any] | None = None
        queries = 0
        while True:
            queries += 1
            kwargs: dict[str, Any] = {
                "IndexName": plan.index,
                "KeyConditionExpression": plan.key_condition,
                "ScanIndexForward": False,
                # Unfiltered, evaluating exactly what is missing means LastEvaluatedKey is the page's
                # end. Filtered, DynamoDB applies Limit before the filter: read a wider window and cut.
                "Limit": query.limit - len(raw_items)
                if plan.filter is None
                else max(FILTERED_READ_LIMIT, query.limit),
            }
            if plan.filter is not None:
                kwargs["FilterExpression"] = plan.filter
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            try:
                response = self._table.query(**kwargs)
            except ClientError as error:
                # A cursor from this tenant and partition but outside the time range, for instance.
                if _error_code(error) == "ValidationException" and start_key:
                    raise calls_query.InvalidCursor() from None
                raise
            raw_items += response.get("Items", [])
            last_key = response.get("LastEvaluatedKey")
            if not last_key or len(raw_items) >= query.limit:
                break
            budget = MAX_QUERIES_PER_PAGE if raw_items else MAX_QUERIES_EMPTY_PAGE
            if queries >= budget:
                break
            start_key = last_key
        if len(raw_items) > query.limit or (last_key and len(raw_items) == query.limit):
            # A filtered Query may match past the page's end: the page, and its cursor, end at its last
            # item (for an exact page, that item's key is the LastEvaluatedKey anyway).
            raw_items = raw_items[: query.limit]
            last_key = {
                name: raw_items[-1][name]
                for name in ("PK", "SK", plan.partition_attribute, plan.sort_attribute)
            }
        items = [CallRecord.from_item(item) for item in raw_items]
        cursor = calls_query.encode_cursor(tenant_id, plan, last_key) if last_key else None
        return CallPage(items=items, next_cursor=cursor)

    # ------------------------------------------------------------ the recording fetcher

    def save_recording(self, tenant_id: str, callid: str, source_url: str, stored: StoredRecording) -> bool:
        """Attach a stored recording; False if the call's recording URL changed meanwhile."""
        now = format_timestamp(datetime.now(UTC))
        try:
            self._table.update_item(
                Key=keys.call(tenant_id, callid),
                UpdateExpression=(
                    "SET recording_s3_key = :key, recording_size = :size, recording_sha256 = :sha,"
                    " recording_content_type = :ctype, recording_source_url = :url,"
                    " recording_stored_at = :now"
                    " REMOVE recording_error, recording_error_url"
                ),
                ConditionExpression="#log.recording_url = :url",
                ExpressionAttributeNames={"#log": merge.LOG},
                ExpressionAttributeValues={
                    ":key": stored.s3_key,
                    ":size": stored.size,
                    ":sha": stored.sha256,
                    ":ctype": stored.content_type,
                    ":url": source_url,
                    ":now": now,
                },
            )
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_recording_failed(self, tenant_id: str, callid: str, source_url: str, code: str) -> bool:
        """Record a permanent failure for ``source_url``; never over a recording already stored."""
        try:
            self._table.update_item(
                Key=keys.call(tenant_id, callid),
                UpdateExpression="SET recording_error = :code, recording_error_url = :url",
                ConditionExpression=(
                    "#log.recording_url = :url AND "
                    "(attribute_not_exists(recording_source_url) OR recording_source_url <> :url)"
                ),
                ExpressionAttributeNames={"#log": merge.LOG},
                ExpressionAttributeValues={":code": code, ":url": source_url},
            )
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True


def repository() -> CallRepository:
    """The repository on this function's table (``TABLE_NAME``)."""
    return CallRepository(get_settings().table_name)
