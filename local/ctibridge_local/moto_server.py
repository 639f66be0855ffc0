"""moto's server for the local stack, with the costs that grow with the table taken out.

moto is a faithful mock but not a fast one: three of its habits make every request of a long-running
local stack slower than the one before, and under ``bench/load`` or ``bench/popup_latency`` everything
queued behind them. Each patch keeps moto's answers as they were (unit-tested against plain moto):

* Transactions. moto backs up every table a ``TransactWriteItems`` touches with a ``copy.deepcopy`` of
  the whole table before it runs, so it can roll back. The bridge writes an agent's state in a
  transaction (its tabs on connect and disconnect, its call state on every PBX event). Here the backup
  is of the transaction's own items only (at most 100, as in DynamoDB) and a cancelled transaction puts
  those back, which is all a rollback needs: nothing else was written. Transactions also run one at a
  time (moto's server is threaded and its transactions are not atomic otherwise).
* Queries of the table (not of an index). moto lists and sorts every item of the table to find one
  partition's; DynamoDB, and here the patch, read the partition alone. The ring popup's Query of the
  agent's tabs is on the webhook's path.
* Routing. moto's server lists its own package directory (``os.listdir`` and an ``isdir`` per service)
  on every request, under a global lock, to tell a service name from a host; the listing is cached.

Its collector pauses are kept short as the gateway's are (``gc_pauses``): a full collection walks every
stored item otherwise. Run as ``python -m ctibridge_local.moto_server -H host -p port`` (what
``MotoServer`` does): it imports only moto and ``gc_pauses`` of the local stack.
"""

from __future__ import annotations

import copy
import sys
import threading
from contextvars import ContextVar
from typing import Any

from ctibridge_local.gc_pauses import keep_pauses_short

_backing_up = ContextVar("ctibridge_local.moto_transaction", default=False)
_querying_partition: ContextVar[Any] = ContextVar("ctibridge_local.moto_query_partition", default=None)
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
    """Patch moto in this process (idempotent)."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    if getattr(models.DynamoDBBackend.transact_write_items, "_ctibridge_local", False):
        return
    _install_item_backups(models, Table)
    _install_partition_queries(Table)
    _install_module_list_cache()


def _install_item_backups(models: Any, table_type: type) -> None:
    original = models.DynamoDBBackend.transact_write_items
    models.copy = _CopyWithoutTableBackups(table_type)

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
    models.DynamoDBBackend.transact_write_items = transact_write_items


def _install_partition_queries(table_type: Any) -> None:
    """A Query of the table reads its partition; moto's ``Table.query`` asks ``all_items`` for every
    item of the table and keeps the partition's, so ``all_items`` answers with the partition alone
    while such a query runs (it is only called there for a query of the table, not of an index)."""
    original_query = table_type.query
    original_all_items = table_type.all_items

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # index_name: Table.query's 8th parameter, which moto's backend passes by position
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        of_the_table = not index_name and self.range_key_attr
        token = _querying_partition.set(hash_key if of_the_table and hash_key is not None else None)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _querying_partition.reset(token)

    def all_items(self: Any) -> list[Any]:
        hash_key = _querying_partition.get()
        if hash_key is None:
            return original_all_items(self)
        # The order moto's all_items gives (the query sorts by range key again)
        return sorted(self.items.get(hash_key, {}).values(), key=lambda item: item.range_key)

    table_type.query = query
    table_type.all_items = all_items


def _install_module_list_cache() -> None:
    from moto import backends

    listing = tuple(backends.list_of_moto_modules())  # the package does not change while it runs
    backends.list_of_moto_modules = lambda: listing


def main(argv: list[str]) -> None:
    install()
    from moto.server import main as moto_main

    keep_pauses_short()  # moto is imported: freeze its modules, and later what the tables hold
    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
