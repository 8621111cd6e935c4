"""The DynamoDB key store (``DynamoKeys``) on the emulator (moto, with the local stack's atomic writes):
reservations are conditional writes, so threads racing for one key's budget can never take more than it,
and a revoked key reserves nothing."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from switchboard.adapters.stores.dynamo_keys import DynamoKeys
from switchboard.local.journal import install_patches
from switchboard.service.api_keys import new_key


@pytest.fixture(scope="module")
def table():
    install_patches()  # the local emulator's write lock: each DynamoDB write is atomic, as in AWS
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        client.create_table(TableName="keys", KeySchema=[{"AttributeName": "key_hash", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "key_hash", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        yield DynamoKeys("keys", client=client)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(budget=st.floats(0.01, 5.0), amounts=st.lists(st.floats(0.001, 2.0), min_size=1, max_size=30),
       spend_share=st.floats(0.0, 1.0), workers=st.integers(2, 8), seed=st.integers(0, 1000))
def test_racing_reservations_never_take_more_than_the_budget(table, budget, amounts, spend_share, workers, seed):
    secret, key = new_key("race", budget)
    table.create(key)
    rng = random.Random(seed)

    def request(amount: float) -> float:
        if not table.reserve(key.key_hash, amount):
            return 0.0
        spent = amount * spend_share * rng.random()
        table.settle(key.key_hash, amount, spent)
        return spent

    with ThreadPoolExecutor(max_workers=workers) as pool:
        spent = list(pool.map(request, amounts))
    stored = table.get(key.key_hash)
    assert stored.spent_usd <= budget + 1e-9
    assert stored.spent_usd == pytest.approx(sum(spent), abs=1e-9)
    assert stored.available_usd == pytest.approx(budget - stored.spent_usd, abs=1e-9)
    assert secret not in str(stored.model_dump())


def test_a_revoked_key_reserves_nothing_and_keys_are_listed_without_secrets(table):
    secret, key = new_key("to-revoke", 1.0)
    table.create(key)
    assert table.reserve(key.key_hash, 0.1)
    assert table.revoke(key.key_id) and not table.revoke("key_unknown")
    assert not table.reserve(key.key_hash, 0.1)
    listed = [k for k in table.all() if k.key_id == key.key_id]
    assert listed[0].revoked and secret not in str([k.model_dump() for k in table.all()])


def test_a_key_without_budget_records_spend_and_is_never_refused(table):
    _, key = new_key("unlimited", None)
    table.create(key)
    assert table.reserve(key.key_hash, 1e6)
    table.settle(key.key_hash, 1e6, 0.25)
    stored = table.get(key.key_hash)
    assert stored.budget_usd is None and stored.spent_usd == pytest.approx(0.25)


def test_a_new_period_is_renewed_by_exactly_one_of_racing_requests(table):
    """Eight threads see a stale window at once: one conditional write renews the budget, the others lose
    and reserve from the renewed one; reservations tagged with the old window settle without refilling."""
    secret, key = new_key("monthly", 1.0, period="month")
    table.create(key.model_copy(update={"window": "2026-10", "available_usd": 0.0}))
    with ThreadPoolExecutor(8) as pool:
        renewed = list(pool.map(lambda _: table.renew(key.key_hash, "2026-10", "2026-11", 1.0), range(8)))
    assert renewed.count(True) == 1
    stored = table.get(key.key_hash)
    assert (stored.window, stored.available_usd, stored.period) == ("2026-11", 1.0, "month")
    assert not table.reserve(key.key_hash, 0.5, window="2026-10")  # the old period's budget is gone
    assert table.reserve(key.key_hash, 0.5, window="2026-11")
    table.settle(key.key_hash, 0.3, 0.1, window="2026-10")  # a request of October: spend counted, nothing back
    table.settle(key.key_hash, 0.5, 0.2, window="2026-11")
    stored = table.get(key.key_hash)
    assert stored.available_usd == pytest.approx(0.8) and stored.spent_usd == pytest.approx(0.3)


def test_a_budget_is_never_renewed_for_a_past_period(table):
    """A router whose clock is a little behind must not take a key back to the previous period (and so
    grant the current one's budget twice)."""
    _, key = new_key("behind", 1.0, period="day")
    table.create(key.model_copy(update={"window": "2026-11-30"}))
    assert not table.renew(key.key_hash, "2026-11-30", "2026-11-29", 1.0)
    assert not table.renew(key.key_hash, "2026-11-30", "2026-11-30", 1.0)
    assert table.get(key.key_hash).window == "2026-11-30"
