"""What the recorded outcomes allow at best: the figures behind "What limits the bars" in docs/benchmarks.md.

Descriptive statistics of the data (no model is trained, nothing is tuned), over the whole dev files:
- how often the strongest models agree, and how often an agreed answer is right (a ceiling on any
  agreement-based verifier);
- plain majority votes over model subsets (what a vote of cheap models can reach at all);
- per category: the best model, the best cheaper model, and what the best model costs on that category.

Run: .venv/bin/python benchmarks/data_limits.py [--data ../shared/data]   (writes benchmarks/out/data_limits.json)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]


def majority_vote_accuracy(answer_ids: np.ndarray, correct: np.ndarray, cols: list[int]) -> float:
    """Each prompt's most common extracted answer among ``cols`` (ties: the earliest column's answer);
    scored with the recorded correctness of a model that gave it. Abstentions (-1) do not vote."""
    hits = []
    for i in range(answer_ids.shape[0]):
        votes = Counter(int(a) for a in answer_ids[i, cols] if a >= 0)
        if not votes:
            hits.append(0.0)
            continue
        top = max(votes.values())
        winner = next(int(answer_ids[i, j]) for j in cols if votes.get(int(answer_ids[i, j])) == top)
        giver = next(j for j in cols if answer_ids[i, j] == winner)
        value = correct[i, giver]
        if not np.isnan(value):
            hits.append(float(value))
    return float(np.mean(hits))


def analyse(path: Path) -> dict:
    from switchboard.offline.outcomes import load_outcomes

    data = load_outcomes(path)
    acc, cost = data.accuracy(), data.cost.mean(axis=0) * 1000
    best = int(np.nanargmax(acc))
    by_acc = list(np.argsort(-acc))
    second = int(by_acc[1])
    ids, correct = data.answer_ids, data.labels.correct
    agree = (ids[:, best] >= 0) & (ids[:, best] == ids[:, second])
    others = [j for j in range(data.k) if j != best]
    cats = np.asarray(data.categories, dtype=object)
    per_category = {}
    for name in sorted(set(cats)):
        rows = cats == name
        cat_acc = np.nanmean(correct[rows], axis=0)
        cheaper = [j for j in others if cost[j] < cost[best]]
        best_cheaper = max(cheaper, key=lambda j: cat_acc[j]) if cheaper else None
        per_category[name] = {
            "share_of_prompts": round(float(rows.mean()), 3),
            "best_model_accuracy": round(float(cat_acc[best]), 3),
            "best_cheaper_model": data.models[best_cheaper] if best_cheaper is not None else None,
            "best_cheaper_accuracy": round(float(cat_acc[best_cheaper]), 3) if best_cheaper is not None else None,
            "best_model_cost_here_share_of_its_total": round(
                float(data.cost[rows, best].sum() / data.cost[:, best].sum()), 3),
        }
    cheap = [j for j in others if cost[j] <= cost[best] / 4]
    return {
        "prompts": data.n,
        "best_model": data.models[best], "best_accuracy": round(float(acc[best]), 4),
        "best_cost_per_1k": round(float(cost[best]), 3),
        "runner_up": data.models[second], "runner_up_accuracy": round(float(acc[second]), 4),
        "best_and_runner_up_agree_share": round(float(agree.mean()), 3),
        "accuracy_when_they_agree": round(float(np.nanmean(correct[agree, best])), 3),
        "oracle_without_best_model": round(float(np.nanmax(np.nan_to_num(correct[:, others], nan=0), axis=1).mean()), 3),
        "majority_vote_all_but_best": round(majority_vote_accuracy(ids, correct, others), 4),
        "majority_vote_models_under_quarter_cost": {
            "models": [data.models[j] for j in cheap],
            "cost_per_1k": round(float(cost[cheap].sum()), 3),
            "accuracy": round(majority_vote_accuracy(ids, correct, cheap), 4),
        },
        "per_category": per_category,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    results = {}
    for name in ("mmlu_pro", "routerbench"):
        path = args.data / name / "dev.parquet"
        if not path.exists():
            print(f"{path} not found; skipped", file=sys.stderr)
            continue
        results[name] = analyse(path)
        print(f"== {name}")
        print(json.dumps(results[name], indent=1))
    out = ROOT / "benchmarks" / "out" / "data_limits.json"
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
