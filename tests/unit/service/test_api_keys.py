"""Callers' API keys: a bearer key is checked against its hash, and a key's budget is a cap that concurrent
requests cannot overspend together (the plan's bound is reserved before the cascade runs and settled after)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.domain.catalog import ModelEntry, ModelPrice
from switchboard.http.statuses import http_error
from switchboard.service.api_keys import KeyService, bearer, hash_key, new_key
from switchboard.service.assembly import Services
from switchboard.service.errors import ApiError, KeyBudgetExhausted, Unauthorized
from tests.support.builder import build_services, complete_chat
from tests.support.fakes import (
    InMemoryKeys,
    InMemoryTraces,
    ScriptedProvider,
    ScriptedProviders,
)


def _keys(required: bool = False, budget: float | None = None) -> tuple[KeyService, str, InMemoryKeys]:
    store = InMemoryKeys()
    secret, key = new_key("test", budget)
    store.create(key)
    return KeyService(store, required=required), secret, store


def test_a_key_is_stored_as_its_hash_only():
    secret, key = new_key("svc", 1.0)
    assert secret.startswith("sb-") and len(secret) > 40
    assert key.key_hash == hash_key(secret) and secret not in key.model_dump_json()


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc", "abc"), ("bearer   abc ", "abc"), ("Basic abc", None), ("Bearer", None), ("", None), (None, None)])
def test_bearer_reads_only_the_bearer_scheme(header, token):
    assert bearer(header) == token


def test_required_keys_refuse_a_missing_unknown_or_revoked_key_with_401():
    keys, secret, store = _keys(required=True)
    assert keys.authenticate(f"Bearer {secret}").name == "test"
    for header in (None, "Bearer sb-not-a-key", "Bearer unused"):
        with pytest.raises(Unauthorized):
            keys.authenticate(header)
    store.revoke(store.all()[0].key_id)
    with pytest.raises(Unauthorized) as revoked:
        keys.authenticate(f"Bearer {secret}")
    status, body = http_error(revoked.value)
    assert status == 401 and body["error"]["code"] == "invalid_api_key" and secret not in str(body)


def test_optional_keys_let_other_tokens_through_but_never_a_wrong_key_of_ours():
    keys, _, _ = _keys(required=False)
    assert keys.authenticate(None) is None
    assert keys.authenticate("Bearer unused-locally") is None  # e.g. the OpenAI SDK's placeholder
    with pytest.raises(Unauthorized):
        keys.authenticate("Bearer sb-guessed")


def test_an_exhausted_key_is_a_429_naming_its_budget():
    keys, secret, store = _keys(budget=0.001)
    key = keys.authenticate(f"Bearer {secret}")
    reservation = keys.reserve(key, worst_case=0.0008, first_tier=0.0005)
    with pytest.raises(KeyBudgetExhausted) as exhausted:
        keys.reserve(key, worst_case=0.0008, first_tier=0.0005)
    status, body = http_error(exhausted.value)
    assert status == 429 and body["error"]["type"] == "insufficient_quota" and "$0.001 budget" in body["error"]["message"]
    keys.settle(reservation, 0.0001)  # what was not spent comes back
    assert keys.reserve(key, worst_case=0.0008, first_tier=0.0005).amount == pytest.approx(0.0008)


def _service(keys: KeyService, verdict: str) -> tuple[Services, InMemoryTraces]:
    entries = [ModelEntry(model_id=f"m{i}", provider="openai", provider_model=f"m{i}", endpoint="http://127.0.0.1:9/v1",
                          price=ModelPrice(input_usd_per_mtok=p, output_usd_per_mtok=2 * p))
               for i, p in enumerate((0.5, 5.0))]
    reply = ScriptedProvider(lambda messages: verdict if "<<<ANSWER" in messages[-1].content else "4")
    providers = ScriptedProviders({e.model_id: reply for e in entries})
    traces = InMemoryTraces()
    return build_services(entries, providers=providers, traces=traces, keys=keys), traces


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(budget=st.floats(1e-3, 0.1), requests=st.integers(1, 12), workers=st.integers(1, 6),
       verdict=st.sampled_from(["VERDICT: CORRECT", "VERDICT: INCORRECT"]),
       max_tokens=st.integers(1, 64))
def test_concurrent_requests_never_spend_more_than_the_key_budget(budget, requests, workers, verdict, max_tokens):
    keys, secret, store = _keys(budget=budget)
    service, traces = _service(keys, verdict)
    body = {"messages": [{"role": "user", "content": "What is 2+2?"}], "max_tokens": max_tokens}

    def call(_: int) -> float | str:
        try:
            return complete_chat(service, body, f"Bearer {secret}").spent_usd
        except ApiError as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(call, range(requests)))
    key = store.all()[0]
    spent = [r for r in results if isinstance(r, float)]
    assert {r for r in results if isinstance(r, str)} <= {"KeyBudgetExhausted", "BudgetTooSmall"}
    assert key.spent_usd <= budget * (1 + 1e-9)
    assert key.spent_usd == pytest.approx(sum(spent), abs=1e-12)  # settled exactly: nothing left reserved
    assert key.available_usd == pytest.approx(budget - key.spent_usd, abs=1e-12)
    assert all(t.state.request.key_id == key.key_id for t in traces.items.values() if t.state is not None)


def test_a_per_day_budget_renews_each_utc_day_and_an_old_days_reservation_never_feeds_the_new_one():
    from switchboard.service.api_keys import current_window

    day1, day2 = 1_795_000_000.0, 1_795_000_000.0 + 86_400  # two consecutive UTC days
    now = [day1]
    store = InMemoryKeys()
    secret, key = new_key("daily", 0.001, period="day")
    store.create(key.model_copy(update={"window": current_window("day", day1)}))
    keys = KeyService(store, required=True, clock=lambda: now[0])
    key = keys.authenticate(f"Bearer {secret}")
    held = keys.reserve(key, worst_case=0.0008, first_tier=0.0005)
    with pytest.raises(KeyBudgetExhausted) as exhausted:
        keys.reserve(key, worst_case=0.0008, first_tier=0.0005)
    assert "$0.001 a day" in str(exhausted.value) and "this day" in str(exhausted.value)
    now[0] = day2  # a new day: the budget is whole again, once
    fresh = keys.reserve(keys.authenticate(f"Bearer {secret}"), worst_case=0.0008, first_tier=0.0005)
    assert fresh.amount == pytest.approx(0.0008) and fresh.window == current_window("day", day2)
    keys.settle(held, 0.0001)  # yesterday's request ends: its spend counts, its unspent part stays yesterday's
    stored = store.get(key.key_hash)
    assert stored.available_usd == pytest.approx(0.0002) and stored.spent_usd == pytest.approx(0.0001)
    with pytest.raises(KeyBudgetExhausted):
        keys.reserve(stored, worst_case=0.0008, first_tier=0.0005)
    with pytest.raises(ValueError, match="needs a budget"):
        new_key("x", None, period="month")
    assert current_window("month", day1) == current_window("day", day1)[:7]


def test_a_router_whose_clock_is_behind_reserves_from_the_period_the_key_is_in():
    from switchboard.service.api_keys import current_window

    day1, day2 = 1_795_000_000.0, 1_795_000_000.0 + 86_400
    store = InMemoryKeys()
    secret, key = new_key("daily", 0.001, period="day")
    store.create(key.model_copy(update={"window": current_window("day", day2)}))  # renewed by another router
    behind = KeyService(store, required=True, clock=lambda: day1)
    held = behind.reserve(behind.authenticate(f"Bearer {secret}"), worst_case=0.0008, first_tier=0.0005)
    assert held.window == current_window("day", day2)  # not renewed back to day 1
    assert store.get(key.key_hash).available_usd == pytest.approx(0.0002)


def test_a_single_tier_plan_fits_a_key_whose_budget_covers_it():
    """A pinned model's plan costs its first tier and nothing more: flooring the reservation to whole
    picodollars must not make it 'less than the first tier'."""
    keys, secret, store = _keys(budget=1.0)
    key = keys.authenticate(f"Bearer {secret}")
    bound = 0.0024787000000000003  # a real plan bound whose float is not a whole number of picodollars
    reservation = keys.reserve(key, worst_case=bound, first_tier=bound)
    assert reservation.amount == pytest.approx(bound, abs=1e-12)
