"""Callers' API keys in DynamoDB (``KeyStore``): ``key_hash`` (S, key: the sha256 of the secret), ``key_id``,
``name``, ``created_at``, ``revoked``, and money as integer picodollars (``budget_usd``, ``spent_usd``,
``available_usd``), with the budget's ``period`` and ``window`` where it renews."""

from __future__ import annotations

from typing import Any

from switchboard.adapters.stores.dynamo import TableAdapter, conditional_failure, store_errors
from switchboard.ports import ApiKey, StoreError

PICO = 10**12  # key budgets are kept as integer picodollars


def _pico(usd: float) -> dict[str, str]:
    return {"N": str(round(usd * PICO))}


class DynamoKeys(TableAdapter):
    """API keys (``KeyStore``), keyed by the sha256 of the secret. Money is kept as integer picodollars
    (exact sums, and no decimal notation for an emulator's arithmetic to trip on) and every change is one
    conditional ``UpdateItem``, so concurrent requests on many router containers can never reserve more
    than a key's budget."""

    def get(self, key_hash: str) -> ApiKey | None:
        with store_errors(f"cannot read table {self.table}"):
            item = self.client.get_item(TableName=self.table, Key={"key_hash": {"S": key_hash}},
                                        ConsistentRead=True).get("Item")
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
        return self._update(key_hash, "reserve spend", UpdateExpression="SET available_usd = available_usd - :r",
                            ConditionExpression=condition, ExpressionAttributeValues=values,
                            **({"ExpressionAttributeNames": names} if names else {}))

    def settle(self, key_hash: str, reserved: float, spent: float, window: str | None = None) -> None:
        """Add the spend; return the unspent part to the window it was reserved from (a key renewed since
        keeps its new period's budget whole: what was reserved from the old one is gone with it)."""
        values: dict[str, Any] = {":back": _pico(reserved - spent), ":spent": _pico(spent)}
        condition, names = "attribute_exists(key_hash)", {}
        if window is not None:
            condition += " AND #w = :w"
            values[":w"], names["#w"] = {"S": window}, "window"
        if self._update(key_hash, "settle spend", UpdateExpression="SET available_usd = available_usd + :back "
                        "ADD spent_usd :spent", ConditionExpression=condition, ExpressionAttributeValues=values,
                        **({"ExpressionAttributeNames": names} if names else {})) or window is None:
            return  # settled, or the key was deleted meanwhile: nothing to settle
        # renewed since it was reserved: the spend still counts in all, nothing goes back (the key may also
        # have been deleted meanwhile)
        self._update(key_hash, "settle spend", UpdateExpression="ADD spent_usd :spent",
                     ConditionExpression="attribute_exists(key_hash)", ExpressionAttributeValues={":spent": _pico(spent)})

    def renew(self, key_hash: str, old: str | None, new: str, budget: float) -> bool:
        """False when another request renewed it first."""
        return self._update(
            key_hash, "renew a budget", UpdateExpression="SET available_usd = :budget, #w = :new",
            # forward only (the windows' ISO dates sort): a budget is never renewed for a past period
            ConditionExpression="attribute_exists(key_hash) AND " + (
                "#w = :old AND #w < :new" if old is not None else "attribute_not_exists(#w)"),
            ExpressionAttributeNames={"#w": "window"},
            ExpressionAttributeValues={":budget": _pico(budget), ":new": {"S": new},
                                       **({":old": {"S": old}} if old is not None else {})})

    def _update(self, key_hash: str, what: str, **update: Any) -> bool:
        """One conditional ``UpdateItem`` of the key: True when it was made, False when its condition did not
        hold; any other failure is a ``StoreError``."""
        try:
            self.client.update_item(TableName=self.table, Key={"key_hash": {"S": key_hash}}, **update)
            return True
        except Exception as exc:  # noqa: BLE001 - a condition that did not hold is an answer, not an error
            if conditional_failure(exc):
                return False
            raise StoreError(f"cannot {what} in {self.table}: {exc}") from exc

    def create(self, key: ApiKey) -> None:
        item: dict[str, Any] = {"key_hash": {"S": key.key_hash}, "key_id": {"S": key.key_id},
                                "name": {"S": key.name}, "created_at": {"S": key.created_at},
                                "revoked": {"BOOL": key.revoked}, "spent_usd": _pico(0.0),
                                "available_usd": _pico(key.budget_usd if key.budget_usd is not None else 0.0)}
        if key.budget_usd is not None:
            item["budget_usd"] = _pico(key.budget_usd)
        if key.period is not None and key.window is not None:
            item["period"], item["window"] = {"S": key.period}, {"S": key.window}
        with store_errors(f"cannot write a key to {self.table}"):
            self.client.put_item(TableName=self.table, Item=item,
                                 ConditionExpression="attribute_not_exists(key_hash)")

    def all(self) -> list[ApiKey]:
        return sorted((self._key(i) for i in self.scan_items()), key=lambda k: (k.created_at, k.key_id))

    def revoke(self, key_id: str) -> bool:
        for key in self.all():
            if key.key_id == key_id:
                with store_errors(f"cannot revoke in {self.table}"):
                    self.client.update_item(TableName=self.table, Key={"key_hash": {"S": key.key_hash}},
                                            UpdateExpression="SET revoked = :yes",
                                            ExpressionAttributeValues={":yes": {"BOOL": True}})
                return True
        return False
