"""moto's server for the local stack, with its DynamoDB transactions made O(items) instead of O(table).

moto backs up every table a ``TransactWriteItems`` touches with a ``copy.deepcopy`` of the whole table
before it runs, so it can roll back. The bridge writes an agent's state in a transaction (its tabs on
connect and disconnect, its call state on every PBX event), so on the local stack each of those cost
more the longer the stack had been running: under ``bench/load`` they took two thirds of moto's CPU and
everything else queued behind them. Here the backup is of the transaction's own items only (at most
100, as in DynamoDB) and a cancelled transaction puts those back, which is all a rollback needs:
nothing else was written. Transactions also run one at a time (moto's server is threaded and its
transactions are not atomic otherwise).

Run as a script (``python moto_server.py -H host -p port``, what ``MotoServer`` does): it imports
nothing of the local stack, only moto.
"""

from __future__ import annotations

import copy
import sys
import threading
from contextvars import ContextVar
from typing import Any

_backing_up = ContextVar("ctibridge_local.moto_transaction", default=False)
_transactions = threading.Lock()


class _CopyWithoutTableBackups:
    """``copy`` as moto's DynamoDB models module sees it: a Table is not deep-copied during a
    transaction (its items are backed up one by one instead, see ``install``)."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if _backing_up.get() and isinstance(value, self._table_type):
            return value  # rolled back item by item by the wrapper below
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _keys(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    keys = []
    for entry in transact_items:
        _, operation = next(iter(entry.items()))
        table_name = operation.get("TableName")
        if not table_name or table_name not in backend.tables:
            continue
        if "Key" in operation:
            keys.append((table_name, operation["Key"]))
        elif "Item" in operation:
            table = backend.tables[table_name]
            attributes = [table.hash_key_attr, table.range_key_attr]
            item = operation["Item"]
            if all(name is None or name in item for name in attributes):
                keys.append((table_name, {name: item[name] for name in attributes if name is not None}))
    return keys


def _snapshot(backend: Any, keys: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any], Any]]:
    saved = []
    for table_name, key in keys:
        try:
            current = backend.get_item(table_name, key)
        except Exception:  # noqa: S112 - an invalid key: moto's own validation answers it next
            continue
        saved.append((table_name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
    return saved


def _restore(backend: Any, saved: list[tuple[str, dict[str, Any], Any]]) -> None:
    for table_name, key, attributes in reversed(saved):
        if attributes is None:
            if backend.get_item(table_name, key) is not None:
                backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, attributes)


def install() -> None:
    """Patch moto's DynamoDB backend in this process (idempotent)."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    if getattr(models.DynamoDBBackend.transact_write_items, "_ctibridge_local", False):
        return
    original = models.DynamoDBBackend.transact_write_items
    models.copy = _CopyWithoutTableBackups(Table)  # type: ignore[assignment]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _transactions:
            saved = _snapshot(self, _keys(self, transact_items)) if len(transact_items) <= 100 else []
            token = _backing_up.set(True)
            try:
                original(self, transact_items)
            except Exception:
                _restore(self, saved)
                raise
            finally:
                _backing_up.reset(token)

    transact_write_items._ctibridge_local = True  # type: ignore[attr-defined]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    install()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
