"""Creates the template's DynamoDB tables, S3 buckets and SQS queues in the moto backend."""

from __future__ import annotations

import json
import secrets
from typing import Any

import boto3

from ctibridge_local.resolve import ACCOUNT_ID, REGION, LocalNames
from ctibridge_local.template import Template

# DynamoDB CreateTable accepts these properties as CloudFormation spells them.
_TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes")


def physical_name(stage: str, logical_id: str) -> str:
    return f"ctibridge-{stage}-{logical_id}".lower()


def create_all(template: Template, names: LocalNames, endpoint_url: str) -> None:
    """Create every table, bucket and queue, recording their local names/ARNs/URLs in ``names``."""
    stage = names.parameters.get("Stage", "dev")
    session = boto3.session.Session(region_name=REGION)
    _create_tables(template, names, session.client("dynamodb", endpoint_url=endpoint_url), stage)
    _create_buckets(template, names, session.client("s3", endpoint_url=endpoint_url), stage)
    _create_queues(template, names, session.client("sqs", endpoint_url=endpoint_url), stage)
    _create_secrets(template, names, session.client("secretsmanager", endpoint_url=endpoint_url), stage)


def _create_tables(template: Template, names: LocalNames, dynamodb: Any, stage: str) -> None:
    for logical_id, res in template.resources_of_type("AWS::DynamoDB::Table").items():
        props = res["Properties"]
        table_name = physical_name(stage, logical_id)
        spec: dict[str, Any] = {k: props[k] for k in _TABLE_KEYS if k in props}
        dynamodb.create_table(TableName=table_name, BillingMode="PAY_PER_REQUEST", **spec)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
        names.refs[logical_id] = table_name
        names.attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{table_name}"


def _create_buckets(template: Template, names: LocalNames, s3: Any, stage: str) -> None:
    for logical_id in template.resources_of_type("AWS::S3::Bucket"):
        bucket = physical_name(stage, logical_id)
        s3.create_bucket(Bucket=bucket)
        names.refs[logical_id] = bucket
        names.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{bucket}"


def _create_queues(template: Template, names: LocalNames, sqs: Any, stage: str) -> None:
    queues = template.resources_of_type("AWS::SQS::Queue")
    # Dead-letter queues first: the others' RedrivePolicy points at them.
    ordered = sorted(queues.items(), key=lambda item: "RedrivePolicy" in item[1].get("Properties", {}))
    for logical_id, res in ordered:
        props = res.get("Properties", {})
        queue_name = physical_name(stage, logical_id)
        attributes = {
            key: str(props[key])
            for key in (
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "DelaySeconds",
                "ReceiveMessageWaitTimeSeconds",
            )
            if key in props
        }
        if str(props.get("FifoQueue", "")).lower() == "true":
            # SQS requires the suffix (CloudFormation adds it to the names it generates).
            queue_name += ".fifo"
            attributes["FifoQueue"] = "true"
            attributes.update(
                {
                    key: str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
                    for key in ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
                    if key in props
                }
            )
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(names.resolve(props["RedrivePolicy"]))
        url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
        names.refs[logical_id] = url
        names.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_name}"
        names.attributes[(logical_id, "QueueName")] = queue_name
        names.attributes[(logical_id, "QueueUrl")] = url


def _create_secrets(template: Template, names: LocalNames, secretsmanager: Any, stage: str) -> None:
    # GenerateSecretString: a fresh random value per stack, as Secrets Manager makes at deploy time.
    for logical_id in template.resources_of_type("AWS::SecretsManager::Secret"):
        value = secrets.token_urlsafe(36)
        arn = secretsmanager.create_secret(Name=physical_name(stage, logical_id), SecretString=value)["ARN"]
        names.refs[logical_id] = arn
        names.secret_values[arn] = value
