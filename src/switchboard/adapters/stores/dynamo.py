"""DynamoDB adapters: model catalogue, taxonomy, policy, traces (API keys: ``dynamo_keys``).

Each takes a table name and an optional injected boto3 DynamoDB client (tests pass one bound to an
emulator; production passes nothing and gets a lazily created default). Reads of the catalogue and the
taxonomy are cached per warm container for ``cache_s`` seconds, since they change only on training runs.

Item formats (one attribute holds the JSON body, so floats never meet DynamoDB's Decimal rules):
- Catalog: ``model_id`` (S, key), ``body`` (S: a ModelEntry as JSON).
- Taxonomy: ``category`` (S, key), ``body`` (S: a Category as JSON, centroid included).
- Policy: ``name`` (S, key: ``active`` the dial in force, ``judges`` the judge policy, ``release`` the
  release pointer, ``shadow`` the shadow policy), ``body`` (S: the Dial / JudgePolicy / ReleasePointer /
  ShadowPolicy as JSON), ``published_at`` (S).
- Traces: ``trace_id`` (S, key), ``created_at`` (S), ``status`` (S), ``cost_usd`` (N), ``body`` (S: the
  Trace as JSON), ``expires_at`` (N, epoch seconds, the table's TTL attribute), ``owner`` (S: the request's
  API key id, ``-`` without one; with ``created_at`` the key of the index the newest traces are listed
  from: ``trace_listing``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from switchboard.adapters.stores import trace_listing
from switchboard.domain.catalog import ModelEntry
from switchboard.domain.dial import Dial
from switchboard.domain.judging import JudgePolicy
from switchboard.domain.release import ReleasePointer, ShadowPolicy
from switchboard.domain.taxonomy import Category
from switchboard.ports import StoredResponse, StoreError, Trace


@contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Any error of the client (botocore's ClientError, EndpointConnectionError...) as a ``StoreError``
    saying what could not be done; a ``StoreError`` raised inside passes as it is."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - every client error means the same to the caller
        raise StoreError(f"{what}: {exc}") from exc


def conditional_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is DynamoDB refusing a conditional write (the condition did not hold)."""
    return getattr(exc, "response", {}).get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _default_client(client: Any) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client("dynamodb")


class TableAdapter:
    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self._client = client
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = _default_client(None)
            return self._client

    def _scan_bodies(self) -> list[str]:
        return [item["body"]["S"] for item in self.scan_items(ProjectionExpression="body") if "body" in item]

    def scan_items(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item of the table (all pages)."""
        items: list[dict[str, Any]] = []
        kwargs = {"TableName": self.table, **kwargs}
        with store_errors(f"cannot read table {self.table}"):
            while True:
                page = self.client.scan(**kwargs)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    return items
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class _Cached:
    def __init__(self, cache_s: float) -> None:
        self._cache_s = cache_s
        self._loaded_at = -1e18
        self._value: Any = None
        self._lock = threading.Lock()

    def get(self, load):
        with self._lock:
            if self._value is None or time.monotonic() - self._loaded_at > self._cache_s:
                self._value = load()
                self._loaded_at = time.monotonic()
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._value = None


class DynamoCatalog(TableAdapter):
    def __init__(self, table: str, client: Any = None, cache_s: float = 60.0) -> None:
        super().__init__(table, client)
        self._cache = _Cached(cache_s)

    def models(self) -> dict[str, ModelEntry]:
        def load() -> dict[str, ModelEntry]:
            entries = [ModelEntry.model_validate_json(b) for b in self._scan_bodies()]
            return {e.model_id: e for e in entries}

        return self._cache.get(load)

    def put_all(self, entries: Iterable[ModelEntry]) -> int:
        count = 0
        for entry in entries:
            self.client.put_item(TableName=self.table, Item={"model_id": {"S": entry.model_id},
                                                             "body": {"S": entry.model_dump_json()}})
            count += 1
        return count


class DynamoTaxonomy(TableAdapter):
    def __init__(self, table: str, client: Any = None, cache_s: float = 300.0) -> None:
        super().__init__(table, client)
        self._cache = _Cached(cache_s)

    def categories(self) -> list[Category]:
        return self._cache.get(lambda: sorted((Category.model_validate_json(b) for b in self._scan_bodies()),
                                              key=lambda c: c.name))

    def put_all(self, categories: Iterable[Category]) -> int:
        count = 0
        for category in categories:
            self.client.put_item(TableName=self.table, Item={"category": {"S": category.name},
                                                             "body": {"S": category.model_dump_json()},
                                                             "tiers": {"L": [{"S": t} for t in category.tiers]}})
            count += 1
        return count

    def replace_all(self, categories: Iterable[Category]) -> tuple[int, list[str]]:
        """Make the table hold exactly ``categories``: write them all first, then delete the categories
        that are no longer in the taxonomy. Returns (written, deleted names).

        Writing before deleting means a publish that fails half-way leaves a usable taxonomy (old and new
        categories side by side), never an empty table that would send every request to the default plan.
        """
        categories = list(categories)
        keep = {c.name for c in categories}
        with store_errors(f"cannot write table {self.table}"):
            existing = [Category.model_validate_json(b).name for b in self._scan_bodies()]
            written = self.put_all(categories)
            stale = sorted(set(existing) - keep)
            for name in stale:
                self.client.delete_item(TableName=self.table, Key={"category": {"S": name}})
        return written, stale


class DynamoPolicy(TableAdapter):
    """What is in force, one item each: the trained dial (``name = "active"``), the measured judge policy
    (``"judges"``), the release pointer (``"release"``: which run's model files the functions load) and
    the shadow policy (``"shadow"``: planned beside the live one, never run).

    The three are read together in one transactional read and cached per warm container for ``cache_s``
    seconds (the release pointer's check interval), and ``put_release`` writes them in one transaction:
    a router never sees a new dial beside an old release, or the reverse."""

    ACTIVE = "active"
    JUDGES = "judges"
    RELEASE = "release"
    SHADOW = "shadow"
    _NAMES = (ACTIVE, JUDGES, RELEASE, SHADOW)

    def __init__(self, table: str, client: Any = None, cache_s: float = 60.0) -> None:
        super().__init__(table, client)
        self._cache = _Cached(cache_s)

    def _snapshot(self) -> dict[str, str | None]:
        def load() -> dict[str, str | None]:
            with store_errors(f"cannot read table {self.table}"):
                found = self.client.transact_get_items(TransactItems=[
                    {"Get": {"TableName": self.table, "Key": {"name": {"S": name}}}} for name in self._NAMES])
            items = [r.get("Item") for r in found.get("Responses", [])]
            return {name: (item["body"]["S"] if item else None) for name, item in zip(self._NAMES, items, strict=True)}

        return self._cache.get(load)

    def _put(self, name: str, body: str, published_at: str) -> None:
        item = {"name": {"S": name}, "body": {"S": body}, "published_at": {"S": published_at}}
        with store_errors(f"cannot write the policy to {self.table}"):
            self.client.put_item(TableName=self.table, Item=item)

    def dial(self) -> Dial | None:
        body = self._snapshot()[self.ACTIVE]
        return Dial.model_validate_json(body) if body else None

    def judge_policy(self) -> JudgePolicy | None:
        body = self._snapshot()[self.JUDGES]
        return JudgePolicy.model_validate_json(body) if body else None

    def release(self) -> ReleasePointer | None:
        body = self._snapshot()[self.RELEASE]
        return ReleasePointer.model_validate_json(body) if body else None

    def shadow(self) -> ShadowPolicy | None:
        body = self._snapshot()[self.SHADOW]
        return ShadowPolicy.model_validate_json(body) if body else None

    def put_shadow(self, shadow: ShadowPolicy | None, published_at: str) -> None:
        if shadow is not None:
            self._put(self.SHADOW, shadow.model_dump_json(), published_at)
        else:
            with store_errors(f"cannot remove the shadow policy from {self.table}"):
                self.client.delete_item(TableName=self.table, Key={"name": {"S": self.SHADOW}})
        self._cache.clear()

    def put(self, dial: Dial, published_at: str) -> None:
        self._put(self.ACTIVE, dial.model_dump_json(), published_at)

    def put_judges(self, policy: JudgePolicy, published_at: str) -> None:
        self._put(self.JUDGES, policy.model_dump_json(), published_at)

    def put_release(self, pointer: ReleasePointer, dial: Dial | None, judges: JudgePolicy | None,
                    published_at: str) -> None:
        bodies = {self.RELEASE: pointer.model_dump_json(), self.ACTIVE: dial.model_dump_json() if dial else None,
                  self.JUDGES: judges.model_dump_json() if judges else None}
        writes = [{"Put": {"TableName": self.table, "Item": {"name": {"S": name}, "body": {"S": body},
                                                             "published_at": {"S": published_at}}}}
                  if body is not None else {"Delete": {"TableName": self.table, "Key": {"name": {"S": name}}}}
                  for name, body in bodies.items()]
        with store_errors(f"cannot write release {pointer.current.version} to {self.table}"):
            self.client.transact_write_items(TransactItems=writes)
        self._cache.clear()


class DynamoTraces(TableAdapter):
    def put(self, trace: Trace, ttl_days: int) -> None:
        cost = trace.state.spent_usd if trace.state else 0.0
        item = {
            "trace_id": {"S": trace.trace_id},
            "created_at": {"S": trace.created_at},
            "status": {"S": trace.status},
            "cost_usd": _n(cost),
            "body": {"S": trace.model_dump_json()},
            "expires_at": {"N": str(int(time.time()) + ttl_days * 86400)},
            trace_listing.OWNER: {"S": trace_listing.owner_of(trace)},
        }
        with store_errors(f"cannot write trace {trace.trace_id} to {self.table}"):
            self.client.put_item(TableName=self.table, Item=item)

    def get(self, trace_id: str) -> Trace | None:
        with store_errors(f"cannot read trace {trace_id} from {self.table}"):
            found = self.client.get_item(TableName=self.table, Key={"trace_id": {"S": trace_id}},
                                         ConsistentRead=True)
        item = found.get("Item")
        if not item:
            return None
        return Trace.model_validate_json(item["body"]["S"])

    def add_feedback(self, trace_id: str, feedback: dict) -> bool:
        """Append feedback to a stored trace; False when the trace does not exist.

        Read-modify-write guarded by a condition on the body we read, so two concurrent feedback posts
        cannot silently overwrite each other (the loser retries).
        """
        for _ in range(5):
            with store_errors(f"cannot read trace {trace_id}"):
                found = self.client.get_item(TableName=self.table, Key={"trace_id": {"S": trace_id}},
                                             ConsistentRead=True)
            item = found.get("Item")
            if not item:
                return False
            old_body = item["body"]["S"]
            trace = Trace.model_validate_json(old_body)
            trace.feedback.append(feedback)
            try:
                self.client.update_item(
                    TableName=self.table, Key={"trace_id": {"S": trace_id}},
                    UpdateExpression="SET body = :new",
                    ConditionExpression="body = :old",
                    ExpressionAttributeValues={":new": {"S": trace.model_dump_json()}, ":old": {"S": old_body}},
                )
                return True
            except Exception as exc:  # noqa: BLE001 - a lost race is retried, anything else is the store's
                if conditional_failure(exc):
                    continue
                raise StoreError(f"cannot update trace {trace_id}: {exc}") from exc
        raise StoreError(f"feedback on trace {trace_id} lost a write race five times")

    def recent(self, owner: str | None, limit: int) -> list[Trace]:
        with store_errors(f"cannot list traces of {self.table}"):
            return trace_listing.newest(self.client, self.table, owner, limit)


class DynamoResponses(TableAdapter):
    """The Responses API's stored responses: one item per response (its owner, the response and the
    conversation as one JSON body), expiring with a TTL."""

    def put(self, stored: StoredResponse, ttl_days: int) -> None:
        item = {"response_id": {"S": stored.response_id}, "body": {"S": stored.model_dump_json()},
                "expires_at": {"N": str(int(time.time()) + ttl_days * 86400)}}
        if stored.owner is not None:
            item["owner"] = {"S": stored.owner}
        with store_errors(f"cannot write response {stored.response_id} to {self.table}"):
            self.client.put_item(TableName=self.table, Item=item)

    def get(self, response_id: str) -> StoredResponse | None:
        with store_errors(f"cannot read response {response_id} from {self.table}"):
            found = self.client.get_item(TableName=self.table, Key={"response_id": {"S": response_id}},
                                         ConsistentRead=True)
        item = found.get("Item")
        if not item or int(item.get("expires_at", {}).get("N", "0")) < time.time():
            return None  # DynamoDB deletes expired items within days, not at once
        return StoredResponse.model_validate_json(item["body"]["S"])


class DynamoSessions(TableAdapter):
    """A session's model (``service.affinity``): one small item per session, expiring with a TTL."""

    def get(self, session: str) -> str | None:
        with store_errors(f"cannot read session from {self.table}"):
            found = self.client.get_item(TableName=self.table, Key={"session": {"S": session}}, ConsistentRead=True)
        item = found.get("Item")
        if not item or int(item.get("expires_at", {}).get("N", "0")) < time.time():
            return None
        return str(item["model"]["S"])

    def put(self, session: str, model: str, ttl_s: int) -> None:
        item = {"session": {"S": session}, "model": {"S": model},
                "expires_at": {"N": str(int(time.time()) + ttl_s)}}
        with store_errors(f"cannot write session to {self.table}"):
            self.client.put_item(TableName=self.table, Item=item)


def load_json_items(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return data if isinstance(data, list) else list(data.values())


def _n(value: float) -> dict[str, str]:
    """A DynamoDB number, exact to 1e-12 and in fixed-point notation (no exponent: DynamoDB Local and moto
    cannot add "1E-7")."""
    return {"N": format(Decimal(repr(round(value, 12))), "f")}
