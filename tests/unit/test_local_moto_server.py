"""The local stack's moto (``ctibridge_local.moto_server``): the same answers as plain moto, without the
costs that grow with the table -- transactions back up their own items and still roll back, a Query of
the table reads its partition, the server's routing does not list moto's package on every request."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import backends, mock_aws
from moto.dynamodb import models
from moto.dynamodb.models.table import Table

from ctibridge_local import moto_server

TABLE = "moto-transactions"


@pytest.fixture
def unpatched(monkeypatch: pytest.MonkeyPatch) -> None:
    # The patches are process-wide: undone after each test, as the other unit tests use plain moto.
    monkeypatch.setattr(models, "copy", models.copy)
    monkeypatch.setattr(
        models.DynamoDBBackend, "transact_write_items", models.DynamoDBBackend.transact_write_items
    )
    monkeypatch.setattr(Table, "query", Table.query)
    monkeypatch.setattr(Table, "all_items", Table.all_items)
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)


def _create_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
            {"AttributeName": "GSI1PK", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "GSI1",
                "KeySchema": [
                    {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                    {"AttributeName": "SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def client(unpatched: None) -> Iterator[Any]:
    moto_server.install()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _create_table(dynamodb)
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


# ---------------------------------------------------------------- queries of the table

QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": {"S": "AGENT#3"}}},
    {
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)",
        "ExpressionAttributeValues": {":pk": {"S": "AGENT#3"}, ":p": {"S": "CONN#"}},
        "ConsistentRead": True,
    },
    {
        "KeyConditionExpression": "PK = :pk AND SK BETWEEN :a AND :b",
        "ExpressionAttributeValues": {
            ":pk": {"S": "AGENT#3"},
            ":a": {"S": "CONN#02"},
            ":b": {"S": "CONN#05"},
        },
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "PK = :pk",
        "FilterExpression": "n > :n",
        "ExpressionAttributeValues": {":pk": {"S": "AGENT#4"}, ":n": {"N": "3"}},
    },
    {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": {"S": "NOBODY"}}},
    {
        "IndexName": "GSI1",
        "KeyConditionExpression": "GSI1PK = :g",
        "ExpressionAttributeValues": {":g": {"S": "TENANT#b"}},
    },
]


def _seed(dynamodb: Any) -> None:
    for agent in range(8):
        for tab in range(7):
            item = {
                "PK": {"S": f"AGENT#{agent}"},
                "SK": {"S": f"CONN#{tab:02}"},
                "n": {"N": str(tab)},
                "GSI1PK": {"S": f"TENANT#{'ab'[agent % 2]}"},
            }
            dynamodb.put_item(TableName=TABLE, Item=item)
        dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": f"AGENT#{agent}"}, "SK": {"S": "STATE"}})


def _every_page(dynamodb: Any, query: dict[str, Any], limit: int | None) -> list[list[dict[str, Any]]]:
    request = {"TableName": TABLE, **query} | ({"Limit": limit} if limit else {})
    pages = []
    while True:
        page = dynamodb.query(**request)
        pages.append(page["Items"])
        if "LastEvaluatedKey" not in page:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_queries_answer_as_plain_moto_does(unpatched: None) -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _create_table(dynamodb)
        _seed(dynamodb)
        cases = [(query, limit) for query in QUERIES for limit in (None, 2)]
        # Given what plain moto answers to each query, whole and page by page
        expected = [_every_page(dynamodb, query, limit) for query, limit in cases]
        assert any(len(pages) > 2 for pages in expected)  # the paging really is exercised
        # When the local stack's patches are in
        moto_server.install()
        # Then every query answers the same items, in the same order, on the same pages
        assert [_every_page(dynamodb, query, limit) for query, limit in cases] == expected


def test_a_query_of_the_table_does_not_list_the_whole_table(
    unpatched: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a spy on moto's own listing of every item of a table
    listed: list[str] = []
    real = Table.all_items

    def spy(self: Table) -> list[Any]:
        listed.append(self.name)
        return real(self)

    monkeypatch.setattr(Table, "all_items", spy)
    moto_server.install()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _create_table(dynamodb)
        _seed(dynamodb)
        # When an agent's tabs are queried, the table is not listed, and the tabs come back
        items = dynamodb.query(TableName=TABLE, **QUERIES[1])["Items"]
        assert listed == []
        assert [item["SK"]["S"] for item in items] == [f"CONN#{tab:02}" for tab in range(7)]
        # And an index, which moto keeps no partitions for, still works as before (by listing)
        dynamodb.query(TableName=TABLE, **QUERIES[-1])
        assert listed == [TABLE]


# ---------------------------------------------------------------- routing


def test_the_server_lists_its_services_once(unpatched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    # Given a count of moto's directory listings
    listings: list[int] = []
    real = backends.list_of_moto_modules

    def counted() -> Any:
        listings.append(1)
        return real()

    monkeypatch.setattr(backends, "list_of_moto_modules", counted)
    moto_server.install()
    dispatcher = DomainDispatcherApplication(create_backend_app)
    # When the server routes requests by host, many times
    routed = [dispatcher.get_backend_for_host(host) for host in ("dynamodb", "sqs", "s3", "nothing") * 20]
    # Then the answers are moto's, and the package was listed once (at install)
    assert routed[:4] == ["dynamodb", "sqs", "s3", None]
    assert len(listings) == 1
