"""The two functions: crm_delivery (SQS FIFO batch, partial failures), deliveries_api (GET /v1/deliveries)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ctibridge.delivery import worker
from ctibridge.delivery.models import CrmEndpoint, DeliveryMessage
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli.demo import DEMO_API_KEY, seed_demo_tenant
from tests.support.aws import http_event, load_event
from tests.support.delivery import DeliveryQueues, add_endpoint
from tests.support.handlers import load_handler
from tests.unit.delivery.conftest import (
    API_KEY,
    CUSTOMER,
    SIGNING_SECRET,
    STAGE,
    TABLE,
    Clock,
    FakeCrm,
    make_deliverer,
)

CRM_HOST = "crm.example.com"


@pytest.fixture
def demo(queues: DeliveryQueues) -> TenantAdmin:
    """The demo tenant with the JSON endpoint ``crm`` the sample events name."""
    seed_demo_tenant(TABLE, STAGE)
    admin = TenantAdmin(TABLE, STAGE)
    add_endpoint(
        admin, "demo", CrmEndpoint(id="crm", url=f"https://{CRM_HOST}/cti"), signing_secret=SIGNING_SECRET
    )
    return admin


def sample_batch() -> tuple[dict[str, Any], datetime]:
    batch = load_event("crm_delivery", "sqs_batch")
    sent = int(batch["Records"][0]["attributes"]["SentTimestamp"])
    return batch, datetime.fromtimestamp(sent / 1000, UTC)


def test_batch_is_delivered_in_order(demo: TenantAdmin, crm: FakeCrm, lambda_context: Any) -> None:
    # Given the sample batch: a call's ringing then its end
    batch, sent = sample_batch()
    worker._deliverer = make_deliverer(crm, Clock(sent + timedelta(seconds=5)))
    # When the function handles it
    response = load_handler("crm_delivery")(batch, lambda_context)
    # Then both went to the CRM, in order, and nothing is reported failed
    assert response == {"batchItemFailures": []}
    assert [json.loads(r.content)["type"] for r in crm.requests] == ["call.ringing", "call.ended"]


def test_a_failure_fails_the_rest_of_its_call_only(
    demo: TenantAdmin, crm: FakeCrm, lambda_context: Any
) -> None:
    # Given a CRM that is down for the batch's call
    batch, sent = sample_batch()
    crm.answer(CRM_HOST, 503)
    worker._deliverer = make_deliverer(crm, Clock(sent + timedelta(seconds=5)))
    # When the function handles it
    response = load_handler("crm_delivery")(batch, lambda_context)
    # Then the ringing failed and its call's end was not even tried (order), both reported for a retry
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        r["messageId"] for r in batch["Records"]
    ]
    assert len(crm.requests) == 1


def test_deliveries_api_lists_the_failed_attempts(
    demo: TenantAdmin, crm: FakeCrm, lambda_context: Any
) -> None:
    # Given a failed and a successful delivery of the demo tenant
    batch, sent = sample_batch()
    crm.answer(CRM_HOST, 503, 200)
    clock = Clock(sent + timedelta(seconds=5))
    deliverer = make_deliverer(crm, clock)
    for record in batch["Records"]:
        deliverer.process(DeliveryMessage.model_validate_json(record["body"]), queued_at=sent)
        clock.advance(1)
    api = load_handler("deliveries_api")
    # When the CRM asks for its failed deliveries (the sample request)
    response = api(load_event("deliveries_api", "list_failed"), lambda_context)
    # Then it gets the failed attempt only, with what happened
    assert response["statusCode"] == 200, response["body"]
    body = json.loads(response["body"])
    (failed,) = body["items"]
    assert failed["status"] == "failed"
    assert failed["http_status"] == 503
    assert failed["error_code"] == "HTTP_503"
    assert failed["event_type"] == "call.ringing"
    assert failed["will_retry"] is True
    assert failed["endpoint_id"] == "crm"
    assert failed["url"] == f"https://{CRM_HOST}/cti"
    assert body["next_cursor"] is None
    # And without a filter it gets both, newest first
    everything = api(http_event("GET", "/v1/deliveries", headers={"x-api-key": DEMO_API_KEY}), lambda_context)
    assert [i["status"] for i in json.loads(everything["body"])["items"]] == ["succeeded", "failed"]


def test_deliveries_api_pages_and_scopes_cursors_to_the_tenant(
    demo: TenantAdmin, crm: FakeCrm, lambda_context: Any
) -> None:
    # Given three attempts of the demo tenant, and another tenant
    batch, sent = sample_batch()
    crm.answer(CRM_HOST, 503, 503, 200)
    clock = Clock(sent + timedelta(seconds=5))
    deliverer = make_deliverer(crm, clock)
    ring = DeliveryMessage.model_validate_json(batch["Records"][0]["body"])
    for attempt in range(3):
        deliverer.process(ring, queued_at=sent, receive_count=attempt + 1)
        clock.advance(60)
    demo.create_tenant(CUSTOMER, CUSTOMER, api_key=API_KEY)
    api = load_handler("deliveries_api")

    def page(key: str, **query: str) -> dict[str, Any]:
        response = api(
            http_event("GET", "/v1/deliveries", headers={"x-api-key": key}, query=query), lambda_context
        )
        return {"status": response["statusCode"], **json.loads(response["body"])}

    # When the demo CRM pages by two
    first = page(DEMO_API_KEY, limit="2")
    second = page(DEMO_API_KEY, limit="2", cursor=first["next_cursor"])
    # Then it sees its three attempts once each
    assert [i["attempt"] for i in first["items"] + second["items"]] == [3, 2, 1]
    # And another tenant cannot use its cursor, nor see its deliveries
    assert page(API_KEY, cursor=first["next_cursor"])["code"] == "INVALID_CURSOR"
    assert page(API_KEY)["items"] == []
    # And bad input is refused the usual way
    assert page(DEMO_API_KEY, status="lost")["status"] == 400
    assert api(http_event("GET", "/v1/deliveries"), lambda_context)["statusCode"] == 401
