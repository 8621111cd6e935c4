"""The newest traces of one caller, from the traces table.

Deployed, the table has an index keyed by ``owner`` (the request's API key id, ``-`` for a request made
without a key) and ``created_at``, projecting the keys only: one Query, newest first, names the traces,
and one BatchGetItem reads them. A table without the index (the local stack, whose emulated tables are
made with their key schemas only) is scanned instead for the same names - fine for a developer's table, and
never the deployed path.

Either way the body is checked again (a trace whose request is another key's is never returned), so a
caller lists only its own requests' traces, as it reads only its own stored responses.
"""

from __future__ import annotations

from typing import Any

from switchboard.ports import Trace

INDEX = "by-owner"  # the traces table's index (infra/constructs/storage.py)
OWNER = "owner"
CREATED_AT = "created_at"
NO_KEY = "-"  # a request made without an API key (a DynamoDB key attribute cannot be empty)
_BATCH = 100  # BatchGetItem's most keys per call


def owner_of(trace: Trace) -> str:
    key_id = trace.state.request.key_id if trace.state is not None else None
    return key_id or NO_KEY


def newest(client: Any, table: str, owner: str | None, limit: int) -> list[Trace]:
    """The newest ``limit`` traces of ``owner``'s requests, newest first."""
    want = owner or NO_KEY
    try:
        ids = _query(client, table, want, limit)
    except Exception as exc:  # noqa: BLE001 - only a missing index falls back; anything else is the store's
        if not _no_index(exc):
            raise
        ids = _scan(client, table, want, limit)
    traces = [t for t in _read(client, table, ids) if owner_of(t) == want]
    return sorted(traces, key=lambda t: t.created_at, reverse=True)


def _query(client: Any, table: str, owner: str, limit: int) -> list[str]:
    page = client.query(TableName=table, IndexName=INDEX, KeyConditionExpression="#o = :o",
                        ExpressionAttributeNames={"#o": OWNER}, ExpressionAttributeValues={":o": {"S": owner}},
                        ScanIndexForward=False, Limit=limit)
    return [item["trace_id"]["S"] for item in page.get("Items", [])]


def _scan(client: Any, table: str, owner: str, limit: int) -> list[str]:
    found: list[tuple[str, str]] = []
    kwargs: dict[str, Any] = {
        "TableName": table, "ProjectionExpression": "trace_id, #c, #o",
        "ExpressionAttributeNames": {"#c": CREATED_AT, "#o": OWNER}}
    while True:
        page = client.scan(**kwargs)
        found += [(item[CREATED_AT]["S"], item["trace_id"]["S"]) for item in page.get("Items", [])
                  if item.get(OWNER, {}).get("S", NO_KEY) == owner and CREATED_AT in item]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return [trace_id for _, trace_id in sorted(found, reverse=True)[:limit]]


def _read(client: Any, table: str, ids: list[str]) -> list[Trace]:
    bodies: list[str] = []
    for start in range(0, len(ids), _BATCH):
        keys: list[dict[str, Any]] = [{"trace_id": {"S": i}} for i in ids[start:start + _BATCH]]
        for _ in range(8):  # unprocessed keys (throttling) are asked for again
            if not keys:
                break
            page = client.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True,
                                                               "ProjectionExpression": "body"}})
            bodies += [item["body"]["S"] for item in page.get("Responses", {}).get(table, [])]
            keys = page.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return [Trace.model_validate_json(body) for body in bodies]


def _no_index(exc: Exception) -> bool:
    """Whether ``exc`` says the table has no such index (DynamoDB: a ValidationException; its emulator: a
    ResourceNotFoundException naming the index)."""
    error = getattr(exc, "response", {}).get("Error", {})
    return (error.get("Code") in ("ValidationException", "ResourceNotFoundException")
            and "index" in str(error.get("Message", "")).lower())
