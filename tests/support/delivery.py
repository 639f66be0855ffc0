"""Helpers of the CRM delivery tests: the FIFO delivery queues as template.yaml defines them, and CRM
endpoints configured on a tenant the way ``ctibridge crm endpoint add`` does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from ctibridge.delivery.models import CrmEndpoint, EndpointSecrets
from ctibridge.tenants.provisioning import TenantAdmin
from tests.support.aws import load_template

# Attributes the template gives the delivery queues that SQS's CreateQueue takes as they are.
_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


@dataclass
class DeliveryQueues:
    queue_url: str
    dead_letter_url: str
    max_receive_count: int


def _attributes(properties: dict[str, Any]) -> dict[str, str]:
    attributes = {"FifoQueue": "true"}
    for name in _QUEUE_ATTRIBUTES:
        if name in properties:
            value = properties[name]
            attributes[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return attributes


def create_delivery_queues(sqs: Any, prefix: str = "ctibridge-test") -> DeliveryQueues:
    """The DeliveryQueue and its DLQ, configured from template.yaml (FIFO, redrive)."""
    resources = load_template()["Resources"]
    queue_props = resources["DeliveryQueue"]["Properties"]
    dlq_props = resources["DeliveryDeadLetterQueue"]["Properties"]
    assert queue_props["FifoQueue"] is True
    assert dlq_props["FifoQueue"] is True
    dlq_url = sqs.create_queue(QueueName=f"{prefix}-delivery-dlq.fifo", Attributes=_attributes(dlq_props))[
        "QueueUrl"
    ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    max_receive = int(queue_props["RedrivePolicy"]["maxReceiveCount"])
    attributes = _attributes(queue_props)
    attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
    queue_url = sqs.create_queue(QueueName=f"{prefix}-delivery.fifo", Attributes=attributes)["QueueUrl"]
    return DeliveryQueues(queue_url, dlq_url, max_receive)


def add_endpoint(
    admin: TenantAdmin,
    customer: str,
    endpoint: CrmEndpoint,
    *,
    signing_secret: str | None = None,
    credential: str | None = None,
) -> CrmEndpoint:
    """Configure ``endpoint`` on the tenant: its secrets in Secrets Manager, itself on the profile."""
    current = admin.read_secrets(customer)
    secrets = EndpointSecrets(
        signing_secret=SecretStr(signing_secret) if signing_secret else None,
        credential=SecretStr(credential) if credential else None,
    )
    stored = {**current.crm_endpoint_secrets, endpoint.id: secrets}
    admin.secret_store.write(customer, current.model_copy(update={"crm_endpoint_secrets": stored}))
    tenant = admin.get_tenant(customer)
    admin.update_tenant(customer, crm_endpoints=[*tenant.crm_endpoints, endpoint])
    return endpoint
