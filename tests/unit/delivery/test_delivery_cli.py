"""``ctibridge crm endpoint ...`` and ``ctibridge events replay|deliveries``."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters

from ctibridge.delivery import signing
from ctibridge.delivery.enqueue import send
from ctibridge.delivery.models import CrmEndpoint, DeliveryMessage, EventType, OutboundEvent
from ctibridge.tenants import repository
from ctibridge.tenants.provisioning import TenantAdmin
from ctibridge_cli import main as cli
from tests.support.delivery import DeliveryQueues, add_endpoint
from tests.unit.delivery.conftest import (
    CUSTOMER,
    SIGNING_SECRET,
    STAGE,
    TABLE,
    Clock,
    FakeCrm,
    make_deliverer,
)


class Run:
    def __init__(self, *argv: str) -> None:
        out, err = io.StringIO(), io.StringIO()
        self.code = cli.main(["--table", TABLE, "--stage", STAGE, *argv], out=out, err=err)
        self.out, self.err = out.getvalue(), err.getvalue()

    def json(self) -> Any:
        return json.loads(self.out)


def event(callid: str, at: datetime) -> OutboundEvent:
    return OutboundEvent(
        id=f"evt_{callid}",
        type=EventType.CALL_RINGING,
        tenant=CUSTOMER,
        callid=callid,
        occurred_at=at,
        data={},
    )


def drain(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    ).get("Messages", []):
        found += batch
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return found


def test_endpoint_add_list_remove(admin: TenantAdmin) -> None:
    # When an operator adds a json endpoint with a backup, and a seed004 endpoint with basic auth
    added = Run(
        "crm",
        "endpoint",
        "add",
        CUSTOMER,
        "https://crm.example.com/hooks",
        "--id",
        "main",
        "--backup-url",
        "https://backup.example.com/hooks",
        "--json",
    )
    legacy = Run(
        "crm",
        "endpoint",
        "add",
        CUSTOMER,
        "https://old.example.com",
        "--id",
        "legacy",
        "--format",
        "seed004",
        "--mode",
        "parallel",
        "--auth",
        "basic",
        "--username",
        "cti",
        "--credential",
        "pw",
        "--json",
    )
    # Then the json endpoint's signing secret is shown once, and works
    assert added.code == 0, added.err
    assert legacy.code == 0, legacy.err
    secret = added.json()["signing_secret"]
    assert signing.secret_key(secret)
    assert "signing_secret" not in legacy.json()
    assert "pw" not in legacy.out
    # And both are on the tenant, their secrets in Secrets Manager only
    listed = Run("crm", "endpoint", "list", CUSTOMER, "--json").json()
    assert [
        (e["id"], e["format"], e["mode"], e["has_signing_secret"], e["has_credential"]) for e in listed
    ] == [
        ("main", "json", "failover", True, False),
        ("legacy", "seed004", "parallel", False, True),
    ]
    stored = admin.read_secrets(CUSTOMER).crm_endpoint_secrets
    assert stored["main"].signing_secret is not None
    assert stored["main"].signing_secret.get_secret_value() == secret
    item = (
        boto3.resource("dynamodb")
        .Table(TABLE)
        .get_item(Key={"PK": f"TENANT#{CUSTOMER}", "SK": "PROFILE"})["Item"]
    )
    assert secret not in json.dumps(item, default=str)
    assert "pw" not in json.dumps(item["crm_endpoints"], default=str)
    assert "main" in Run("crm", "endpoint", "list", CUSTOMER).out
    # When one is removed
    removed = Run("crm", "endpoint", "remove", CUSTOMER, "main")
    # Then it and its secrets are gone
    assert removed.code == 0
    assert [e.id for e in admin.get_tenant(CUSTOMER).crm_endpoints] == ["legacy"]
    assert "main" not in admin.read_secrets(CUSTOMER).crm_endpoint_secrets
    # And a key rotation of the tenant keeps the remaining endpoint's secrets
    assert Run("tenant", "rotate-key", CUSTOMER, "--kind", "crm").code == 0
    assert "legacy" in admin.read_secrets(CUSTOMER).crm_endpoint_secrets


def test_endpoint_errors(admin: TenantAdmin) -> None:
    # Given invalid requests, Then they are refused with the CLI's exit codes
    url = "https://crm.example.com/hooks"
    assert Run("crm", "endpoint", "add", CUSTOMER, url, "--auth", "bearer").code == 2  # no credential
    assert (
        Run("crm", "endpoint", "add", CUSTOMER, "https://u:p@crm.example.com").code == 2
    )  # credentials in URL
    assert Run("crm", "endpoint", "add", CUSTOMER, url, "--signing-secret", "whsec_!!").code == 2
    assert Run("crm", "endpoint", "add", "nobody", url).code == 3
    assert Run("crm", "endpoint", "add", CUSTOMER, url, "--id", "a").code == 0
    assert Run("crm", "endpoint", "add", CUSTOMER, url, "--id", "a").code == 4
    assert Run("crm", "endpoint", "remove", CUSTOMER, "zzz").code == 3


def test_replay_from_the_dead_letter_queue(admin: TenantAdmin, queues: DeliveryQueues) -> None:
    # Given dead-lettered deliveries of two tenants
    at = datetime(2024, 5, 1, tzinfo=UTC)
    ours = [DeliveryMessage(tenant=CUSTOMER, endpoint_id="main", event=event(f"c{i}", at)) for i in range(3)]
    theirs = DeliveryMessage(tenant="other", endpoint_id="main", event=event("x", at))
    send([*ours, theirs], url=queues.dead_letter_url)
    base = ("events", "replay", "--dlq", "--queue-url", queues.queue_url, "--dlq-url", queues.dead_letter_url)
    # When a dry run, then a replay for our tenant, are made
    dry = Run(*base, "--customer", CUSTOMER, "--dry-run", "--json")
    done = Run(*base, "--customer", CUSTOMER, "--json")
    # Then the dry run changed nothing, and the replay moved ours only, in order
    assert dry.code == 0, dry.err
    assert dry.json()["replayed"] == 3
    assert done.code == 0
    assert done.json()["replayed"] == 3
    assert done.json()["by_tenant"] == {CUSTOMER: 3}
    replayed = [DeliveryMessage.model_validate_json(m["Body"]) for m in drain(queues.queue_url)]
    assert [m.event.callid for m in replayed] == ["c0", "c1", "c2"]
    left = drain(queues.dead_letter_url)
    assert [DeliveryMessage.model_validate_json(m["Body"]).tenant for m in left] == ["other"]


def test_replay_of_a_time_range(
    admin: TenantAdmin, queues: DeliveryQueues, crm: FakeCrm, clock: Clock
) -> None:
    # Given three events of the tenant: one delivered, one failed, one failed outside the range
    add_endpoint(
        admin,
        CUSTOMER,
        CrmEndpoint(id="main", url="https://crm.example.com/h"),
        signing_secret=SIGNING_SECRET,
    )
    crm.answer("crm.example.com", 200, 503)
    deliverer = make_deliverer(crm, clock)
    at = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    for callid, offset in (("ok", 0), ("bad", 60), ("late", 7200)):
        message = DeliveryMessage(
            tenant=CUSTOMER, endpoint_id="main", event=event(callid, at + timedelta(seconds=offset))
        )
        deliverer.process(message, queued_at=clock.now)
    parameters.clear_caches()
    repository.clear_cache()
    # When the operator replays 16:00-17:00 local time (UTC+7), first the failures, then everything
    window = ("--from", "2024-05-01T16:00:00", "--to", "2024-05-01T17:00:00")
    failures = Run(
        "events", "replay", "--customer", CUSTOMER, *window, "--queue-url", queues.queue_url, "--json"
    )
    first = [DeliveryMessage.model_validate_json(m["Body"]) for m in drain(queues.queue_url)]
    everything = Run(
        "events",
        "replay",
        "--customer",
        CUSTOMER,
        *window,
        "--include-delivered",
        "--queue-url",
        queues.queue_url,
    )
    second = [DeliveryMessage.model_validate_json(m["Body"]) for m in drain(queues.queue_url)]
    # Then the first replays the failed one, the second both, the delivered one forced
    assert failures.code == 0
    assert failures.json()["replayed"] == 1
    assert failures.json()["skipped"] == 1
    assert [(m.event.callid, m.force) for m in first] == [("bad", False)]
    assert everything.code == 0, everything.err
    assert [(m.event.callid, m.force) for m in second] == [("ok", True), ("bad", False)]
    # And the attempts are listed by the CLI too
    listed = Run("events", "deliveries", CUSTOMER, "--status", "failed", "--json").json()["items"]
    assert sorted((i["callid"], i["http_status"]) for i in listed) == [("bad", 503), ("late", 503)]


def test_replay_needs_a_source_and_urls(admin: TenantAdmin) -> None:
    # Given incomplete commands, Then they are refused
    assert Run("events", "replay", "--dlq", "--queue-url", "q").code == 2  # no DLQ URL
    assert (
        Run("events", "replay", "--from", "2024-05-01", "--queue-url", "q", "--customer", CUSTOMER).code == 2
    )
    assert Run("events", "replay", "--customer", CUSTOMER).code == 2


def test_deliveries_of_a_tenant_with_none_yet(admin: TenantAdmin) -> None:
    # A fresh tenant has no attempt: the table prints "(none)" instead of failing on an empty list
    listed = Run("events", "deliveries", CUSTOMER, "--status", "failed")
    assert listed.code == 0, listed.err
    assert listed.out.strip() == "(none)"
