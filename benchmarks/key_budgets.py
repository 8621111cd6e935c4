"""Property run: random concurrent requests on API keys with budgets never spend past a budget.

Each trial creates 1-4 keys with random budgets (some per day, renewed mid-trial by a clock that jumps a
day) in the DynamoDB emulator the local stack uses (moto, with its atomic writes), then sends 10-60
requests at concurrency 2-12 through ``ChatService`` - the router's own reserve / cap / settle code -
with a FAKE model pool (scripted answers and verdicts; prices make a plan cost a sizeable share of a
budget). It reports the requests, concurrency, keys, the largest overspend found (spend past a key's
budget; for a per-day key, past its budget times the periods it touched) and how close to its budget a
key came.

    .venv/bin/python benchmarks/key_budgets.py [--trials 40] [--seed 0]

Writes benchmarks/out/key_budgets.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import boto3
    from moto import mock_aws
    from tqdm import tqdm

    from switchboard.adapters.stores.dynamo_keys import DynamoKeys
    from switchboard.domain.catalog import ModelEntry, ModelPrice
    from switchboard.local.journal import install_patches
    from tests.support.fakes import InMemoryCatalog

    rng = random.Random(args.seed)
    install_patches()
    entries = [ModelEntry(model_id=f"m{i}", provider="openai", provider_model=f"m{i}", endpoint="http://127.0.0.1:9/v1",
                          price=ModelPrice(input_usd_per_mtok=p, output_usd_per_mtok=2 * p))
               for i, p in enumerate((2.0, 20.0))]
    catalog = InMemoryCatalog(entries)
    totals = {"trials": 0, "requests": 0, "answered": 0, "refused_429": 0, "other_refusals": 0, "keys": 0,
              "per_day_keys": 0, "renewals_seen": 0, "max_concurrency": 0, "max_overspend_usd": 0.0,
              "max_overspend_share": 0.0, "unsettled_usd": 0.0,
              "closest_to_budget": 0.0}
    started = time.time()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        client.create_table(TableName="keys", KeySchema=[{"AttributeName": "key_hash", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "key_hash", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        store = DynamoKeys("keys", client=client)
        for _ in tqdm(range(args.trials), desc="trials", unit="trial"):
            trial(rng, store, catalog, entries, totals)
    totals["seconds"] = round(time.time() - started, 1)
    totals["max_overspend_usd"] = round(totals["max_overspend_usd"], 12)
    totals["max_overspend_share"] = round(totals["max_overspend_share"], 9)
    totals["unsettled_usd"] = round(totals["unsettled_usd"], 12)
    out = ROOT / "benchmarks" / "out" / "key_budgets.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(totals, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(totals, indent=1))
    print(f"wrote {out}")
    return 0 if totals["max_overspend_usd"] <= 1e-12 else 1


def trial(rng, store, catalog, entries, totals) -> None:  # noqa: ANN001 - benchmark plumbing
    """One trial: keys, concurrent requests through the router's reserve / cap / settle, the figures."""
    from switchboard.service.api_keys import KeyService, current_window, new_key
    from switchboard.service.errors import ApiError
    from tests.support.builder import build_services, complete_chat
    from tests.support.fakes import InMemoryTraces, ScriptedProvider, ScriptedProviders

    now = [1_795_000_000.0 + rng.random() * 86_400]
    keys = KeyService(store, required=True, clock=lambda: now[0])
    verdict = rng.choice(["VERDICT: CORRECT", "VERDICT: INCORRECT"])
    reply = ScriptedProvider(lambda messages, v=verdict: v if "<<<ANSWER" in messages[-1].content else "4")
    traces = InMemoryTraces()
    service = build_services(catalog, providers=ScriptedProviders({e.model_id: reply for e in entries}),
                             traces=traces, keys=keys)
    made = []
    for _k in range(rng.randint(1, 4)):
        period = rng.choice([None, None, "day"])
        secret, key = new_key("bench", round(rng.uniform(0.002, 0.05), 6), period=period)
        if period:
            key = key.model_copy(update={"window": current_window(period, now[0])})
        store.create(key)
        made.append((secret, key))
    requests = rng.randint(10, 60)
    workers = rng.randint(2, 12)
    jump_at = rng.randint(0, requests - 1)

    def call(i: int) -> str:
        if i == jump_at:
            now[0] += 86_400  # a new UTC day for every per-day key from here on
        secret, key = made[i % len(made)]
        body = {"messages": [{"role": "user", "content": f"What is {i}+2?"}],
                "max_tokens": rng.randint(1, 64)}
        try:
            complete_chat(service, body, f"Bearer {secret}")
            return "answered"
        except ApiError as exc:
            return "refused_429" if exc.__class__.__name__ == "KeyBudgetExhausted" else "other_refusals"

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(call, range(requests)))
    for _secret, key in made:
        stored = store.get(key.key_hash)
        assert stored is not None
        budget = key.budget_usd or 0.0
        if key.period:
            totals["per_day_keys"] += 1
            totals["renewals_seen"] += int(stored.window != key.window)
            # spend is kept in all, not per period: checked as total spend <= budget x periods touched
            periods = 1 + int(stored.window != key.window)
            over = stored.spent_usd - budget * periods
        else:
            over = stored.spent_usd - budget
            totals["unsettled_usd"] = max(totals["unsettled_usd"],
                                          abs((budget - stored.spent_usd) - (stored.available_usd or 0.0)))
        totals["max_overspend_usd"] = max(totals["max_overspend_usd"], over)
        if not key.period and budget:  # how near a budget the spend came: the cap was tested, not idle
            totals["closest_to_budget"] = max(totals["closest_to_budget"], round(stored.spent_usd / budget, 6))
        totals["max_overspend_share"] = max(totals["max_overspend_share"], over / budget if budget else 0.0)
    totals["trials"] += 1
    totals["requests"] += requests
    totals["keys"] += len(made)
    totals["max_concurrency"] = max(totals["max_concurrency"], workers)
    for outcome in outcomes:
        totals[outcome] += 1


if __name__ == "__main__":
    raise SystemExit(main())
