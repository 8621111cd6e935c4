"""``switchboard eval --via-stack N``: the proof that the cascade a user deploys is the cascade measured.

A training run's artifacts are loaded into the local stack exactly as a deployment loads them (the
taxonomy and the dial published to their tables, the ONNX models where the routing layer puts them), and
N validation prompts are sent through it for each named profile: the synthesised state machine, the five
handlers, DynamoDB traces - with the replay provider serving every model's recorded answer and cost. Each
answer is compared with the offline replay of the same profile on the same prompt: same model's answer
returned, same cost (to 1e-9 USD). Labels are read only to score the returned answers.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from switchboard.offline.artifacts import load_artifacts
from switchboard.offline.evaluation.deployed import deployed_outcomes
from switchboard.offline.evaluation.metrics import accuracy, cost_per_1k
from switchboard.offline.outcomes import RecordedOutcomes

COST_TOLERANCE_USD = 1e-9


def sample_rows(prompts: list[str], n: int, seed: int) -> np.ndarray:
    """The prompts to send: a seeded sample of ``n`` of them (all when ``n`` >= their number), in order.

    Prompts whose text occurs more than once in the data are left out: the replay provider can only match
    a request by its text, so it would serve the first recorded question with that text for all of them
    (MMLU-Pro has 84 such texts of 7,242)."""
    counts = Counter(prompts)
    unique = np.asarray([i for i, p in enumerate(prompts) if counts[p] == 1], dtype=int)
    rng = np.random.default_rng(seed)
    return np.sort(unique[rng.permutation(len(unique))[: min(n, len(unique))]])


def _ask(stack: Any, prompt: str, profile: str) -> tuple[int, dict]:
    from switchboard.http.server import api_gateway_event

    body = {"model": f"auto:{profile}", "messages": [{"role": "user", "content": prompt}]}
    event = api_gateway_event("POST", "/v1/chat/completions", {"content-type": "application/json"},
                              json.dumps(body).encode())
    result = stack.invoke_router(event)
    return int(result.get("statusCode", 500)), json.loads(result.get("body") or "{}")


def via_stack(artifacts_dir: str | Path, test: RecordedOutcomes, e_test: np.ndarray, n: int, seed: int = 0,
              progress: bool = True, template: dict | None = None, a_test: np.ndarray | None = None) -> list[dict]:
    """Replay ``n`` prompts of ``test`` per profile through the local stack; one entry per profile:
    ``{"profile", "point", "prompts", "offline": {accuracy, cost_per_1k_usd}, "stack": {...},
    "same_decisions", "errors", "seconds"}``."""
    from switchboard.adapters.providers.recorded import RecordedProviders
    from switchboard.local.stack import LocalStack, StackOptions

    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    artifacts_dir = Path(artifacts_dir)
    art = load_artifacts(artifacts_dir)
    offline = deployed_outcomes(art, test, e_test, a_test)
    rows = sample_rows(test.prompts, n, seed)
    correct = test.labels.correct
    index = {m: j for j, m in enumerate(test.models)}
    results = []
    stack = LocalStack(StackOptions(catalog_path=artifacts_dir / "catalog.json", router_artifacts=artifacts_dir,
                       providers=RecordedProviders(test)), template=template).start()
    try:
        for profile, point in sorted(art.dial.profiles.items()):
            started = time.time()
            out = offline[point]
            returned, spent, same, errors = [], [], 0, 0
            first_error: dict | None = None
            items = rows
            if progress:
                from tqdm import tqdm

                items = tqdm(rows, desc=f"via stack: {profile}", unit="prompt")
            for i in items:
                status, body = _ask(stack, test.prompts[int(i)], profile)
                if status != 200:
                    errors += 1
                    if first_error is None:
                        first_error = {"status": status, "error": (body or {}).get("error")}
                    returned.append(-1)
                    spent.append(float("nan"))
                    continue
                sb = body["switchboard"]
                j = index.get(sb["answered_by"]["model"], -1)
                returned.append(j)
                spent.append(float(sb["cost_usd"]))
                if j == int(out.rep[i]) and abs(float(sb["cost_usd"]) - float(out.cost[i])) <= COST_TOLERANCE_USD:
                    same += 1
            got = np.asarray(returned)
            ok = np.where(got >= 0, correct[rows, np.maximum(got, 0)], 0.0)
            results.append({
                "profile": profile, "point": point, "prompts": int(len(rows)),
                "offline": {"accuracy": round(accuracy(correct[rows, out.rep[rows]]), 4),
                            "cost_per_1k_usd": round(cost_per_1k(out.cost[rows]), 5)},
                "stack": {"accuracy": round(accuracy(ok), 4),
                          "cost_per_1k_usd": round(cost_per_1k(np.nan_to_num(np.asarray(spent))), 5)},
                "same_decisions": round(same / max(1, len(rows)), 4),
                "excluded_ambiguous_prompts": int(sum(c for c in Counter(test.prompts).values() if c > 1)),
                "errors": errors,
                **({"first_error": first_error} if first_error else {}),
                "seconds": round(time.time() - started, 1),
            })
    finally:
        stack.stop()
    return results


def via_stack_compound(artifacts_dir: str | Path, test: RecordedOutcomes, e_test: np.ndarray,
                       compounds: list, profile: str = "balanced", progress: bool = True,
                       a_test: np.ndarray | None = None) -> dict:
    """``eval --compound N --via-stack M``: M compound requests sent through the local stack with
    decomposition on (the detector, the decomposer's call - answered with the join's boundaries,
    ``compound.SimulatedDecomposerProviders`` - and the synthesised state machine's Map over parts), each
    compared with the offline replay of its parts under ``profile``: decomposed into the same parts, each
    part answered by the same model, and the same total cost (the decomposer's call included)."""
    from switchboard.local.stack import LocalStack, StackOptions
    from switchboard.offline.evaluation.compound import (
        SimulatedDecomposerProviders,
        decomposer_cost,
        decomposer_of,
        token_counter,
    )

    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    artifacts_dir = Path(artifacts_dir)
    art = load_artifacts(artifacts_dir)
    point = art.dial.profiles.get(profile) or art.dial.points[0].name
    single = deployed_outcomes(art, test, e_test, a_test)[point]
    count = token_counter()
    correct = test.labels.correct
    index = {m: j for j, m in enumerate(test.models)}
    started = time.time()
    same = errors = 0
    first_error: dict | None = None
    right_offline, right_stack, cost_offline, cost_stack = [], [], [], []
    stack = LocalStack(StackOptions(catalog_path=artifacts_dir / "catalog.json", router_artifacts=artifacts_dir,
                                    providers=SimulatedDecomposerProviders(test, compounds, count),
                                    decomposition=True)).start()
    try:
        items = compounds
        if progress:
            from tqdm import tqdm

            items = tqdm(compounds, desc=f"via stack: compound {profile}", unit="request")
        for c in items:
            members = list(c.members)
            expected = float(sum(single.cost[m] for m in members)) + decomposer_cost(c, decomposer_of(c, art.catalog),
                                                                                    count)
            right_offline.append(float(all(correct[m, single.rep[m]] == 1 for m in members)))
            cost_offline.append(expected)
            status, body = _ask(stack, c.text, profile)
            if status != 200:
                errors += 1
                first_error = first_error or {"status": status, "error": (body or {}).get("error")}
                right_stack.append(0.0)
                cost_stack.append(float("nan"))
                continue
            sb = body["switchboard"]
            parts = (sb.get("decomposition") or {}).get("parts") or []
            models = [index.get(p["answered_by"]["model"], -1) if p.get("answered_by") else -1 for p in parts]
            right_stack.append(float(len(models) == len(members) and all(
                j >= 0 and correct[m, j] == 1 for m, j in zip(members, models, strict=True))))
            cost_stack.append(float(sb["cost_usd"]))
            if models == [int(single.rep[m]) for m in members] and abs(float(sb["cost_usd"]) - expected) <= 1e-8:
                same += 1
    finally:
        stack.stop()
    n = len(compounds)
    return {"profile": profile, "point": point, "prompts": n, "decomposition": True,
            "offline": {"accuracy": round(accuracy(np.asarray(right_offline)), 4),
                        "cost_per_1k_usd": round(cost_per_1k(np.asarray(cost_offline)), 5)},
            "stack": {"accuracy": round(accuracy(np.asarray(right_stack)), 4),
                      "cost_per_1k_usd": round(cost_per_1k(np.nan_to_num(np.asarray(cost_stack))), 5)},
            "same_decisions": round(same / max(1, n), 4), "errors": errors,
            **({"first_error": first_error} if first_error else {}), "seconds": round(time.time() - started, 1)}
