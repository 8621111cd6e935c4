"""``results.json``: every strategy scored on the test labels, the Pareto frontier, AIQ per family, and
the bars checked."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from switchboard.offline.evaluation.metrics import (
    accuracy,
    aiq,
    cost_per_1k,
    escalation_rate,
    ibc,
    ibc_lift,
    pareto_frontier,
)
from switchboard.offline.outcomes import RecordedOutcomes

if TYPE_CHECKING:
    from switchboard.offline.evaluation.evaluate import Row


def assemble(test: RecordedOutcomes, rows: Sequence[Row], dataset: str, best_train: int, slm: int) -> dict:
    """Score every strategy on the test labels and build results.json's structure."""
    correct = test.labels.correct
    strategies: list[dict[str, Any]] = []
    single_stats = {}
    for j in range(test.k):
        single_stats[j] = (accuracy(correct[:, j]), cost_per_1k(test.cost[:, j]))
    llm = single_stats[best_train]
    for row in rows:
        chosen = correct[np.arange(test.n), row.rep]
        acc = accuracy(chosen)
        cost = cost_per_1k(row.cost)
        params = dict(row.params or {})
        params["family"] = row.family
        if row.tiers_used is not None:
            base = single_stats[row.first_model if row.first_model is not None else slm]
            params["ibc"] = _round(ibc(acc, cost, *base))
            params["ibc_lift"] = _round(ibc_lift(acc, cost, base, llm))
        strategies.append({"name": row.name, "kind": row.kind, "accuracy": round(acc, 4),
                           "cost_per_1k_usd": round(cost, 5),
                           "escalation_rate": None if row.tiers_used is None
                           else round(escalation_rate(row.tiers_used), 4),
                           "params": params})
    comparable = [s for s in strategies if s["kind"] != "oracle"]
    front = pareto_frontier([s["cost_per_1k_usd"] for s in comparable], [s["accuracy"] for s in comparable])
    for i, s in enumerate(comparable):
        s["params"]["on_frontier"] = i in front
    max_cost = max(s["cost_per_1k_usd"] for s in comparable)
    families: dict[str, list[dict]] = {}
    for s in comparable:
        families.setdefault(s["params"]["family"], []).append(s)
    families["zero-router (single models)"] = [s for s in strategies if s["kind"] == "single"]
    families["switchboard (all points)"] = [s for s in strategies if s["kind"] == "switchboard"]
    aiq_values = {name: round(aiq([s["cost_per_1k_usd"] for s in ss], [s["accuracy"] for s in ss], max_cost), 5)
                  for name, ss in families.items() if name != "single"}
    best_single = max((s for s in strategies if s["kind"] == "single"), key=lambda s: s["accuracy"])
    results: dict[str, Any] = {"dataset": dataset, "prompts": int(test.n), "strategies": strategies, "aiq": aiq_values,
               "aiq_range_usd_per_1k": [0.0, max_cost],
               "best_single": {"name": best_single["name"], "accuracy": best_single["accuracy"],
                               "cost_per_1k_usd": best_single["cost_per_1k_usd"]},
               "bars": bars(strategies, best_single)}
    results["bars"]["aiq_above_every_baseline"] = aiq_verdict(results)
    return results


def bars(strategies: list[dict], best_single: dict) -> dict:
    """The issue's bars, checked on these prompts: (1) a Switchboard point at >= best single + 3 pt and
    <= 1/4 of its cost; (2) one at >= its accuracy and <= 1/10 of its cost; (3) Switchboard's AIQ above
    every baseline's (checked by the caller, which has the AIQ table)."""
    sb = [s for s in strategies if s["kind"] == "switchboard"]
    acc, cost = best_single["accuracy"], best_single["cost_per_1k_usd"]

    def best_within(limit: float) -> dict | None:
        within = [s for s in sb if s["cost_per_1k_usd"] <= limit]
        return max(within, key=lambda s: s["accuracy"]) if within else None

    quarter, tenth = best_within(cost / 4), best_within(cost / 10)
    return {
        "plus3_at_quarter_cost": {"target_accuracy": round(acc + 0.03, 4), "max_cost_per_1k_usd": round(cost / 4, 5),
                                  "best_point": quarter and quarter["name"],
                                  "accuracy": quarter and quarter["accuracy"],
                                  "met": bool(quarter and quarter["accuracy"] >= acc + 0.03 - 1e-9)},
        "match_at_tenth_cost": {"target_accuracy": acc, "max_cost_per_1k_usd": round(cost / 10, 5),
                                "best_point": tenth and tenth["name"], "accuracy": tenth and tenth["accuracy"],
                                "met": bool(tenth and tenth["accuracy"] >= acc - 1e-9)},
    }


def _round(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 5)


def write_results(results: dict, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def aiq_verdict(results: dict) -> dict:
    """Is Switchboard's AIQ above every baseline's (random, kNN, RouteLLM, AutoMix, FrugalGPT, zero router)?"""
    values = results["aiq"]
    sb = values.get("switchboard (all points)", float("nan"))
    base = {k: v for k, v in values.items() if not k.startswith("sb-") and not k.startswith("switchboard")
            and k != "oracle"}
    worst = max(base.items(), key=lambda kv: kv[1]) if base else (None, float("nan"))
    return {"switchboard": sb, "best_baseline": worst[0], "best_baseline_aiq": worst[1],
            "met": bool(base) and sb > worst[1]}
