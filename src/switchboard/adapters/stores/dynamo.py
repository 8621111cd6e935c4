"""DynamoDB adapters: model catalogue, taxonomy, traces.

Each takes a table name and an optional injected boto3 DynamoDB client (tests pass one bound to an
emulator; production passes nothing and gets a lazily created default). Reads of the catalogue and the
taxonomy are cached per warm container for ``cache_s`` seconds, since they change only on training runs.

Item formats (one attribute holds the JSON body, so floats never meet DynamoDB's Decimal rules):
- Catalog: ``model_id`` (S, key), ``body`` (S: a ModelEntry as JSON).
- Taxonomy: ``category`` (S, key), ``body`` (S: a Category as JSON, centroid included).
- Policy: ``name`` (S, key; ``active`` is the dial in force), ``body`` (S: a Dial as JSON),
  ``published_at`` (S).
- Traces: ``trace_id`` (S, key), ``created_at`` (S), ``status`` (S), ``cost_usd`` (N), ``body`` (S: the
  Trace as JSON), ``expires_at`` (N, epoch seconds, the table's TTL attribute).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from switchboard.domain.catalog import ModelEntry
from switchboard.domain.dial import Dial
from switchboard.domain.judging import JudgePolicy
from switchboard.domain.taxonomy import Category
from switchboard.ports import ApiKey, StoreError, Trace


def _default_client(client: Any) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client("dynamodb")


class _TableAdapter:
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
        bodies: list[str] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "ProjectionExpression": "body"}
        try:
            while True:
                page = self.client.scan(**kwargs)
                bodies.extend(item["body"]["S"] for item in page.get("Items", []) if "body" in item)
                if "LastEvaluatedKey" not in page:
                    return bodies
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except Exception as exc:  # botocore ClientError / EndpointConnectionError
            raise StoreError(f"cannot read table {self.table}: {exc}") from exc


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


class DynamoCatalog(_TableAdapter):
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


class DynamoTaxonomy(_TableAdapter):
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
        try:
            existing = [Category.model_validate_json(b).name for b in self._scan_bodies()]
            written = self.put_all(categories)
            stale = sorted(set(existing) - keep)
            for name in stale:
                self.client.delete_item(TableName=self.table, Key={"category": {"S": name}})
        except StoreError:
            raise
        except Exception as exc:  # botocore ClientError / EndpointConnectionError
            raise StoreError(f"cannot write table {self.table}: {exc}") from exc
        return written, stale


class DynamoPolicy(_TableAdapter):
    """What is in force, one item each, cached per warm container: the trained dial (``name = "active"``)
    and the measured judge policy (``name = "judges"``)."""

    ACTIVE = "active"
    JUDGES = "judges"

    def __init__(self, table: str, client: Any = None, cache_s: float = 300.0) -> None:
        super().__init__(table, client)
        self._cache = _Cached(cache_s)
        self._judges_cache = _Cached(cache_s)

    def _body(self, name: str) -> str | None:
        try:
            found = self.client.get_item(TableName=self.table, Key={"name": {"S": name}}, ConsistentRead=True)
        except Exception as exc:  # botocore ClientError / EndpointConnectionError
            raise StoreError(f"cannot read table {self.table}: {exc}") from exc
        item = found.get("Item")
        return item["body"]["S"] if item else None

    def _put(self, name: str, body: str, published_at: str) -> None:
        item = {"name": {"S": name}, "body": {"S": body}, "published_at": {"S": published_at}}
        try:
            self.client.put_item(TableName=self.table, Item=item)
        except Exception as exc:
            raise StoreError(f"cannot write the policy to {self.table}: {exc}") from exc

    def dial(self) -> Dial | None:
        def load() -> tuple[Dial | None]:
            body = self._body(self.ACTIVE)
            return (Dial.model_validate_json(body) if body else None,)

        return self._cache.get(load)[0]

    def judge_policy(self) -> JudgePolicy | None:
        def load() -> tuple[JudgePolicy | None]:
            body = self._body(self.JUDGES)
            return (JudgePolicy.model_validate_json(body) if body else None,)

        return self._judges_cache.get(load)[0]

    def put(self, dial: Dial, published_at: str) -> None:
        self._put(self.ACTIVE, dial.model_dump_json(), published_at)

    def put_judges(self, policy: JudgePolicy, published_at: str) -> None:
        self._put(self.JUDGES, policy.model_dump_json(), published_at)


class DynamoTraces(_TableAdapter):
    def put(self, trace: Trace, ttl_days: int) -> None:
        cost = trace.state.spent_usd if trace.state else 0.0
        item = {
            "trace_id": {"S": trace.trace_id},
            "created_at": {"S": trace.created_at},
            "status": {"S": trace.status},
            "cost_usd": _n(cost),
            "body": {"S": trace.model_dump_json()},
            "expires_at": {"N": str(int(time.time()) + ttl_days * 86400)},
        }
        try:
            self.client.put_item(TableName=self.table, Item=item)
        except Exception as exc:
            raise StoreError(f"cannot write trace {trace.trace_id} to {self.table}: {exc}") from exc

    def get(self, trace_id: str) -> Trace | None:
        try:
            found = self.client.get_item(TableName=self.table, Key={"trace_id": {"S": trace_id}},
                                         ConsistentRead=True)
        except Exception as exc:
            raise StoreError(f"cannot read trace {trace_id} from {self.table}: {exc}") from exc
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
            try:
                found = self.client.get_item(TableName=self.table, Key={"trace_id": {"S": trace_id}},
                                             ConsistentRead=True)
            except Exception as exc:
                raise StoreError(f"cannot read trace {trace_id}: {exc}") from exc
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
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code")
                if code == "ConditionalCheckFailedException":
                    continue
                raise StoreError(f"cannot update trace {trace_id}: {exc}") from exc
        raise StoreError(f"feedback on trace {trace_id} lost a write race five times")


def load_json_items(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return data if isinstance(data, list) else list(data.values())


def _n(value: float) -> dict[str, str]:
    """A DynamoDB number, exact to 1e-12 and in fixed-point notation (no exponent: DynamoDB Local and moto
    cannot add "1E-7")."""
    return {"N": format(Decimal(repr(round(value, 12))), "f")}


PICO = 10**12  # key budgets are kept as integer picodollars


def _pico(usd: float) -> dict[str, str]:
    return {"N": str(round(usd * PICO))}


class DynamoKeys(_TableAdapter):
    """API keys (``KeyStore``), keyed by the sha256 of the secret. Money is kept as integer picodollars
    (exact sums, and no decimal notation for an emulator's arithmetic to trip on) and every change is one
    conditional ``UpdateItem``, so concurrent requests on many router containers can never reserve more
    than a key's budget."""

    def get(self, key_hash: str) -> ApiKey | None:
        try:
            item = self.client.get_item(TableName=self.table, Key={"key_hash": {"S": key_hash}},
                                        ConsistentRead=True).get("Item")
        except Exception as exc:
            raise StoreError(f"cannot read table {self.table}: {exc}") from exc
        return self._key(item) if item else None

    @staticmethod
    def _key(item: dict[str, Any]) -> ApiKey:
        def num(name: str) -> float | None:
            return int(item[name]["N"]) / PICO if name in item else None

        return ApiKey(key_id=item["key_id"]["S"], key_hash=item["key_hash"]["S"],
                      name=item.get("name", {}).get("S", ""), created_at=item.get("created_at", {}).get("S", ""),
                      revoked=bool(item.get("revoked", {}).get("BOOL", False)), budget_usd=num("budget_usd"),
                      spent_usd=num("spent_usd") or 0.0, available_usd=num("available_usd"),
                      period=item["period"]["S"] if "period" in item else None,  # type: ignore[arg-type]
                      window=item["window"]["S"] if "window" in item else None)

    def reserve(self, key_hash: str, amount: float, window: str | None = None) -> bool:
        condition = ("attribute_exists(key_hash) AND revoked = :no AND "
                     "(attribute_not_exists(budget_usd) OR available_usd >= :r)")
        values: dict[str, Any] = {":r": _pico(amount), ":no": {"BOOL": False}}
        names: dict[str, str] = {}
        if window is not None:
            condition += " AND #w = :w"
            values[":w"], names["#w"] = {"S": window}, "window"
        try:
            self.client.update_item(
                TableName=self.table, Key={"key_hash": {"S": key_hash}},
                UpdateExpression="SET available_usd = available_usd - :r", ConditionExpression=condition,
                ExpressionAttributeValues=values, **({"ExpressionAttributeNames": names} if names else {}))
            return True
        except Exception as exc:
            if _conditional_failure(exc):
                return False
            raise StoreError(f"cannot reserve spend in {self.table}: {exc}") from exc

    def settle(self, key_hash: str, reserved: float, spent: float, window: str | None = None) -> None:
        """Add the spend; return the unspent part to the window it was reserved from (a key renewed since
        keeps its new period's budget whole: what was reserved from the old one is gone with it)."""
        values: dict[str, Any] = {":back": _pico(reserved - spent), ":spent": _pico(spent)}
        condition, names = "attribute_exists(key_hash)", {}
        if window is not None:
            condition += " AND #w = :w"
            values[":w"], names["#w"] = {"S": window}, "window"
        try:
            self.client.update_item(
                TableName=self.table, Key={"key_hash": {"S": key_hash}},
                UpdateExpression="SET available_usd = available_usd + :back ADD spent_usd :spent",
                ConditionExpression=condition, ExpressionAttributeValues=values,
                **({"ExpressionAttributeNames": names} if names else {}))
            return
        except Exception as exc:
            if not _conditional_failure(exc):
                raise StoreError(f"cannot settle spend in {self.table}: {exc}") from exc
            if window is None:
                return  # the key was deleted meanwhile: nothing to settle
        try:  # renewed since it was reserved: the spend still counts in all, nothing goes back
            self.client.update_item(TableName=self.table, Key={"key_hash": {"S": key_hash}},
                                    UpdateExpression="ADD spent_usd :spent",
                                    ConditionExpression="attribute_exists(key_hash)",
                                    ExpressionAttributeValues={":spent": _pico(spent)})
        except Exception as exc:
            if not _conditional_failure(exc):
                raise StoreError(f"cannot settle spend in {self.table}: {exc}") from exc

    def renew(self, key_hash: str, old: str | None, new: str, budget: float) -> bool:
        try:
            self.client.update_item(
                TableName=self.table, Key={"key_hash": {"S": key_hash}},
                UpdateExpression="SET available_usd = :budget, #w = :new",
                # forward only (the windows' ISO dates sort): a budget is never renewed for a past period
                ConditionExpression="attribute_exists(key_hash) AND " + (
                    "#w = :old AND #w < :new" if old is not None else "attribute_not_exists(#w)"),
                ExpressionAttributeNames={"#w": "window"},
                ExpressionAttributeValues={":budget": _pico(budget), ":new": {"S": new},
                                           **({":old": {"S": old}} if old is not None else {})})
            return True
        except Exception as exc:
            if _conditional_failure(exc):
                return False  # another request renewed it first
            raise StoreError(f"cannot renew a budget in {self.table}: {exc}") from exc

    def create(self, key: ApiKey) -> None:
        item: dict[str, Any] = {"key_hash": {"S": key.key_hash}, "key_id": {"S": key.key_id},
                                "name": {"S": key.name}, "created_at": {"S": key.created_at},
                                "revoked": {"BOOL": key.revoked}, "spent_usd": _pico(0.0),
                                "available_usd": _pico(key.budget_usd if key.budget_usd is not None else 0.0)}
        if key.budget_usd is not None:
            item["budget_usd"] = _pico(key.budget_usd)
        if key.period is not None and key.window is not None:
            item["period"], item["window"] = {"S": key.period}, {"S": key.window}
        try:
            self.client.put_item(TableName=self.table, Item=item,
                                 ConditionExpression="attribute_not_exists(key_hash)")
        except Exception as exc:
            raise StoreError(f"cannot write a key to {self.table}: {exc}") from exc

    def all(self) -> list[ApiKey]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table}
        try:
            while True:
                page = self.client.scan(**kwargs)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except Exception as exc:
            raise StoreError(f"cannot read table {self.table}: {exc}") from exc
        return sorted((self._key(i) for i in items), key=lambda k: (k.created_at, k.key_id))

    def revoke(self, key_id: str) -> bool:
        for key in self.all():
            if key.key_id == key_id:
                try:
                    self.client.update_item(TableName=self.table, Key={"key_hash": {"S": key.key_hash}},
                                            UpdateExpression="SET revoked = :yes",
                                            ExpressionAttributeValues={":yes": {"BOOL": True}})
                except Exception as exc:
                    raise StoreError(f"cannot revoke in {self.table}: {exc}") from exc
                return True
        return False


def _conditional_failure(exc: Exception) -> bool:
    return getattr(exc, "response", {}).get("Error", {}).get("Code") == "ConditionalCheckFailedException"
