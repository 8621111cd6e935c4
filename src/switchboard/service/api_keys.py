"""Callers' API keys (``Authorization: Bearer sb-...``) and their budgets: a key's budget is a cap.

A key is shown once, when it is created; the table keeps its sha256 only, so neither the table nor a log
can give it back. Each request on a key with a budget **reserves** its worst case before it runs - the
bound of its cascade plan (``domain.costs``), never more than the key has left - with one conditional
write, runs with that reservation as its own hard ``max_cost_usd`` (the cascade never spends past it), and
then settles: the spend is added, the rest returned. Concurrent requests on any number of router
containers therefore cannot spend more than the budget together; a request whose first tier does not fit
what is left is refused with 429 before anything is spent. If a router dies between reserving and
settling, its reservation stays taken: the cap errs on the side of holding.

A budget may be per period (``--period day|month``, UTC): the first request of a new period renews the
key's available budget with one conditional write that only one request can win; a request reserved in
the old period settles against it (its unspent part does not flow into the new one), so every period's
spend stays within the budget.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from switchboard.ports import ApiKey, KeyStore
from switchboard.service.errors import KeyBudgetExhausted, Unauthorized
from switchboard.service.traces import now_iso

KEY_PREFIX = "sb-"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def current_window(period: str | None, now: float | None = None) -> str | None:
    """The budget period a moment falls in, in UTC: "2026-11-30" for a day, "2026-11" for a month."""
    if period is None:
        return None
    moment = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return moment.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")


def new_key(name: str, budget_usd: float | None, period: Literal["day", "month"] | None = None
            ) -> tuple[str, ApiKey]:
    """(the secret, shown once; what is stored). ``period``: the budget renews every day or month (UTC)."""
    if period is not None and budget_usd is None:
        raise ValueError("a budget period needs a budget")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = f"key_{secrets.token_hex(6)}"
    return secret, ApiKey(key_id=key_id, key_hash=hash_key(secret), name=name, created_at=now_iso(),
                          budget_usd=budget_usd, available_usd=budget_usd, period=period,
                          window=current_window(period))


def describe_budget(key: ApiKey) -> str:
    per = {"day": " a day", "month": " a month"}.get(key.period or "", "")
    return f"${key.budget_usd:g}{per}"


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@dataclass
class Reservation:
    key: ApiKey
    amount: float
    window: str | None = None  # the budget period it was reserved from


class KeyService:
    def __init__(self, store: KeyStore, required: bool, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.required = required
        self.clock = clock

    def authenticate(self, authorization: str | None) -> ApiKey | None:
        """The caller's key (None when keys are not required and none was sent); raises ``Unauthorized``."""
        token = bearer(authorization)
        if token is None:
            if self.required:
                raise Unauthorized("missing API key: send Authorization: Bearer <key>")
            return None
        key = self.store.get(hash_key(token))
        if key is None or key.revoked:
            if not self.required and not token.startswith(KEY_PREFIX):
                return None  # not one of ours (e.g. "unused-locally"): keys are optional here
            raise Unauthorized("invalid or revoked API key")
        return key

    def reserve(self, key: ApiKey, worst_case: float, first_tier: float) -> Reservation:
        """Reserve ``worst_case`` (the plan's bound), or what is left if that is less but still pays for
        the first tier; ``KeyBudgetExhausted`` otherwise."""
        if key.budget_usd is None:
            self.store.reserve(key.key_hash, worst_case)  # unlimited: tracked, never refused
            return Reservation(key, worst_case)
        current: ApiKey | None = key  # as authenticate just read it; re-read only after losing a race
        window = current_window(key.period, self.clock())
        for attempt in range(5):  # another request may take what we read; re-read and try again
            if attempt:
                current = self.store.get(key.key_hash)
            if current is None or current.revoked:
                raise Unauthorized("invalid or revoked API key")
            if window is not None and current.window is not None and current.window > window:
                window = current.window  # another router (a clock a little ahead) renewed it: that period
            if window is not None and current.window != window:  # a new period: its budget, once
                self.store.renew(key.key_hash, current.window, window, current.budget_usd or 0.0)
                current = self.store.get(key.key_hash)
                if current is None or current.revoked:
                    raise Unauthorized("invalid or revoked API key")
            left = max(0.0, current.available_usd or 0.0)
            amount = math.floor(min(worst_case, left) * 1e12) / 1e12  # stores keep whole picodollars
            # compared at the stores' own granularity: flooring to picodollars must not refuse a plan whose
            # first tier is all of it (a pinned model's plan: worst case == first tier)
            if amount < first_tier - 1e-12 or amount <= 0:
                if attempt == 0:
                    continue  # read again before refusing: a settle may have returned budget meanwhile
                period = f" this {key.period}" if key.period else ""
                raise KeyBudgetExhausted(f"API key {key.key_id} has ${left:.6f} of its {describe_budget(key)} "
                                         f"budget left{period}, less than this request's first tier can cost")
            if self.store.reserve(key.key_hash, amount, window):
                return Reservation(current, amount, window)
            time.sleep(0.01)
        raise KeyBudgetExhausted(f"API key {key.key_id}: its budget is being used by other requests; retry")

    def settle(self, reservation: Reservation, spent: float) -> None:
        self.store.settle(reservation.key.key_hash, reservation.amount, min(spent, reservation.amount),
                          reservation.window)
