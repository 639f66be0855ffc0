"""The local stack's moto: transactions back up their own items, not whole tables, and still roll back."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb import models
from moto.dynamodb.models.table import Table

from ctibridge_local import moto_server

TABLE = "moto-transactions"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # The patch is process-wide: undo it after each test, as the other unit tests use plain moto.
    monkeypatch.setattr(models, "copy", models.copy)
    monkeypatch.setattr(
        models.DynamoDBBackend, "transact_write_items", models.DynamoDBBackend.transact_write_items
    )
    moto_server.install()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(50):  # other items, which a transaction must neither copy nor touch
            dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": f"OTHER#{n}"}, "SK": {"S": "X"}})
        dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "A"}, "SK": {"S": "STATE"}, "n": {"N": "1"}})
        yield dynamodb


def _item(client: Any, pk: str, sk: str) -> dict[str, Any] | None:
    return client.get_item(TableName=TABLE, Key={"PK": {"S": pk}, "SK": {"S": sk}}).get("Item")


def _transaction(fails: bool) -> list[dict[str, Any]]:
    return [
        {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "B"}, "SK": {"S": "NEW"}}}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"PK": {"S": "A"}, "SK": {"S": "STATE"}},
                "UpdateExpression": "SET n = :two",
                "ExpressionAttributeValues": {":two": {"N": "2"}},
            }
        },
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": {"PK": {"S": "MARKER"}, "SK": {"S": "ENDED"}},
                "ConditionExpression": "attribute_exists(PK)" if fails else "attribute_not_exists(PK)",
            }
        },
    ]


def test_a_cancelled_transaction_leaves_its_items_as_they_were(client: Any) -> None:
    # When a transaction's condition check fails after its put and update ran
    with pytest.raises(ClientError) as raised:
        client.transact_write_items(TransactItems=_transaction(fails=True))
    # Then DynamoDB's answer, and neither write stayed
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _item(client, "B", "NEW") is None
    assert _item(client, "A", "STATE") == {"PK": {"S": "A"}, "SK": {"S": "STATE"}, "n": {"N": "1"}}
    assert _item(client, "OTHER#7", "X") is not None


def test_a_transaction_that_passes_writes_everything_without_copying_the_table(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a spy on every deep copy moto's models make
    copied: list[type] = []
    real = copy.deepcopy

    def spy(value: Any, memo: Any = None) -> Any:
        copied.append(type(value))
        return real(value, memo)

    monkeypatch.setattr(moto_server.copy, "deepcopy", spy)
    # When the transaction passes
    client.transact_write_items(TransactItems=_transaction(fails=False))
    # Then both writes are there, and no table was copied to make it
    assert _item(client, "B", "NEW") is not None
    assert _item(client, "A", "STATE")["n"] == {"N": "2"}  # type: ignore[index]
    assert Table not in copied
