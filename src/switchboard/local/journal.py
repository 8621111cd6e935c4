"""A write-ahead journal that makes chosen tables of the local emulator survive a restart.

The embedded emulator (moto) keeps DynamoDB in memory, so traces and feedback would vanish with the
process. Every successful write to a journaled table (``PutItem``, ``UpdateItem``, ``DeleteItem``) is
appended to ``<state dir>/<table>.jsonl`` - one JSON line holding the item as it now is (or a tombstone),
written, flushed and fsynced before the emulator answers - and replayed into the table when the stack
starts. A line cut short by a crash (``kill -9`` mid-write) is skipped, so at most the write in flight is
lost, never an acknowledged one. At start the journal is also compacted: one line per live item, expired
items (past the table's TTL attribute) dropped.

Why a journal over moto rather than DynamoDB Local with ``-dbPath``: DynamoDB Local needs a JVM and a jar
download for every user of the embedded default; the journal needs nothing, and ``switchboard local
--dynamodb-endpoint URL`` still points the stack at DynamoDB Local (persistent with ``-dbPath``) for those
who want the real emulator.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_ACTIVE: Journal | None = None
_PATCHED = False
_WRITE_LOCK = threading.RLock()


class Journal:
    """The journal of ``tables`` (emulator table name -> its key attribute names) under ``directory``."""

    def __init__(self, directory: str | Path, tables: dict[str, list[str]], ttl_attribute: str = "expires_at") -> None:
        self.directory = Path(directory)
        self.tables = dict(tables)
        self.ttl_attribute = ttl_attribute
        self._lock = threading.Lock()
        self._files: dict[str, Any] = {}

    def path(self, table: str) -> Path:
        return self.directory / f"{table}.jsonl"

    # ---- writing ---------------------------------------------------------------------------------
    def record(self, table: str, key: dict[str, Any], item: dict[str, Any] | None) -> None:
        """Append the item's new state (``None``: deleted) and make it durable before returning."""
        if table not in self.tables:
            return
        line = json.dumps({"key": key, "item": item}, separators=(",", ":")) + "\n"
        with self._lock:
            handle = self._files.get(table)
            if handle is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                handle = self._files[table] = self.path(table).open("a", encoding="utf-8")
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def close(self) -> None:
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files.clear()

    # ---- replay ----------------------------------------------------------------------------------
    def items(self, table: str) -> list[dict[str, Any]]:
        """The table's live items as the journal last recorded them (expired ones left out)."""
        path = self.path(table)
        if not path.exists():
            return []
        latest: dict[str, dict[str, Any] | None] = {}
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                    latest[json.dumps(entry["key"], sort_keys=True)] = entry["item"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash: that write was never acknowledged
        now = time.time()
        live = []
        for item in latest.values():
            if item is None:
                continue
            expires = item.get(self.ttl_attribute, {}).get("N")
            if expires is not None and float(expires) < now:
                continue
            live.append(item)
        return live

    def restore(self, client: Any) -> dict[str, int]:
        """Put every journaled item back into its (new, empty) table, then compact each journal."""
        restored = {}
        for table in sorted(self.tables):
            items = self.items(table)
            for item in items:
                client.put_item(TableName=table, Item=item)  # journaled again by the patched backend
            restored[table] = len(items)
            self._compact(table, items)
        return restored

    def _compact(self, table: str, items: list[dict[str, Any]]) -> None:
        path = self.path(table)
        if not path.exists():
            return
        with self._lock:
            handle = self._files.pop(table, None)
            if handle is not None:
                handle.close()
            tmp = path.with_suffix(".jsonl.tmp")
            with tmp.open("w", encoding="utf-8") as out:
                for item in items:
                    key = {name: item[name] for name in self.tables[table] if name in item}
                    out.write(json.dumps({"key": key, "item": item}, separators=(",", ":")) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)


def activate(journal: Journal | None) -> None:
    """Route the emulator's writes to ``journal`` (None: stop journaling)."""
    global _ACTIVE
    install_patches()
    _ACTIVE = journal


def install_patches() -> None:
    """Wrap moto's DynamoDB backend so that every write is atomic and every successful write of a
    journaled table is recorded."""
    global _PATCHED
    if _PATCHED:
        return
    from moto.dynamodb.models import DynamoDBBackend

    def current(backend: Any, table_name: str, key: dict[str, Any]) -> tuple[dict[str, Any], dict | None]:
        table = backend.get_table(table_name)
        hash_value, range_value = backend.get_keys_value(table, key)
        item = table.get_item(hash_value, range_value)
        key_only = {name: key[name] for name in (table.hash_key_attr, table.range_key_attr) if name and name in key}
        return key_only, (item.to_json()["Attributes"] if item is not None else None)

    original_put, original_update = DynamoDBBackend.put_item, DynamoDBBackend.update_item
    original_delete = DynamoDBBackend.delete_item

    # moto's server is threaded and its backend takes no lock: a conditional write (check, then write) could
    # interleave with another thread's. DynamoDB makes each write atomic; one lock around every write (and
    # its journal line, so the journal's order is the table's) makes the emulator do the same, which is what
    # API-key reservations (service.keys) rely on.
    def put_item(self, table_name, item_attrs, *args, **kwargs):  # noqa: ANN001, ANN202
        with _WRITE_LOCK:
            result = original_put(self, table_name, item_attrs, *args, **kwargs)
            if _ACTIVE is not None and table_name in _ACTIVE.tables:
                table = self.get_table(table_name)
                key = {n: item_attrs[n] for n in (table.hash_key_attr, table.range_key_attr)
                       if n and n in item_attrs}
                _ACTIVE.record(table_name, key, dict(item_attrs))
            return result

    def update_item(self, table_name, key, *args, **kwargs):  # noqa: ANN001, ANN202
        with _WRITE_LOCK:
            result = original_update(self, table_name, key, *args, **kwargs)
            if _ACTIVE is not None and table_name in _ACTIVE.tables:
                _ACTIVE.record(table_name, *current(self, table_name, key))
            return result

    def delete_item(self, table_name, key, *args, **kwargs):  # noqa: ANN001, ANN202
        with _WRITE_LOCK:
            result = original_delete(self, table_name, key, *args, **kwargs)
            if _ACTIVE is not None and table_name in _ACTIVE.tables:
                _ACTIVE.record(table_name, *current(self, table_name, key))
            return result

    DynamoDBBackend.put_item = put_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    DynamoDBBackend.delete_item = delete_item  # type: ignore[method-assign]
    _PATCHED = True
