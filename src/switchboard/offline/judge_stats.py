"""How well a judge separates right answers from wrong ones: AUROC, its standard error, the separation
test a calibration needs, and the per-role and per-model tables ``switchboard train`` reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from switchboard.domain.judging import JUDGE_ROLES
from switchboard.offline.judge_data import Collected

SEPARATION_STANDARD_ERRORS = 2.0  # ``separates``: the AUROC's lower bound must clear one half


def auroc(scores: Sequence[float], labels: Sequence[float]) -> float | None:
    """Area under the ROC curve (ties count half); None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    if len(set(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def auroc_standard_error(area: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil's (1982) standard error of an AUROC estimated from ``positives`` and ``negatives``."""
    q1, q2 = area / (2 - area), 2 * area * area / (1 + area)
    variance = (area * (1 - area) + (positives - 1) * (q1 - area * area)
                + (negatives - 1) * (q2 - area * area)) / max(1, positives * negatives)
    return math.sqrt(max(0.0, variance))


def separates(scores: Sequence[float], labels: Sequence[float]) -> bool:
    """Whether ``scores`` separate right (1) from wrong (0) beyond chance: an AUROC whose lower bound, two
    Hanley-McNeil standard errors down, is above one half. With some fifteen judge sets tried per region,
    an AUROC of 0.6 on 75 prompts is what the luckiest of them shows by chance; this keeps it from
    calibrating - and so from verifying answers."""
    area = auroc(scores, labels)
    if area is None:
        return False
    positives = int(sum(1 for y in labels if y >= 0.5))
    return area - SEPARATION_STANDARD_ERRORS * auroc_standard_error(area, positives, len(labels) - positives) > 0.5


def role_table(data: Collected, prompts: Sequence[str]) -> list[dict[str, Any]]:
    """Each judge role on ``prompts``: AUROC over stated scores, abstentions, latency, cost; a role whose
    samples were recorded one by one (self-verification) also at each number of samples k (``role@k``),
    latency and cost of its k samples together."""
    table = []
    variants: list[tuple[str, int | None]] = [(role, None) for role in JUDGE_ROLES]
    if data.samples_recorded:
        variants += [("self_verify", k) for k in (1, 3, 5) if k <= data.samples_recorded]
    for role, k in variants:
        rows = data.role_rows(prompts, role, k)
        if not rows:
            continue
        stated = [r for r in rows if r["score"] is not None and not (isinstance(r["score"], float)
                                                                      and math.isnan(r["score"]))]
        entry: dict[str, Any] = {
            "role": role if k is None else f"{role}@{k}", "verdicts": len(rows),
            "abstained": round(1 - len(stated) / len(rows), 4),
            "auroc": rounded(auroc([r["score"] for r in stated], [r["correct"] for r in stated])),
            "mean_latency_ms": round(float(np.mean([r["latency_ms"] for r in rows])), 1),
            "p50_latency_ms": round(float(np.median([r["latency_ms"] for r in rows])), 1),
            "mean_cost_usd": float(np.mean([r["cost_usd"] for r in rows])),
            "per_model_auroc": {}}
        for m in data.models:
            mine = [r for r in stated if r["model"] == m]
            entry["per_model_auroc"][m] = rounded(auroc([r["score"] for r in mine], [r["correct"] for r in mine]))
        table.append(entry)
    return table


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def single_model(data: Collected, prompts: Sequence[str], model: str) -> dict[str, Any]:
    rows = [data.answer[(p, model)] for p in prompts]
    return {"model": model, "prompts": len(prompts),
            "accuracy": round(float(np.mean([data.correct[(p, model)] for p in prompts])), 4),
            "mean_latency_ms": round(float(np.mean([r["latency_ms"] for r in rows])), 1),
            "p50_latency_ms": round(float(np.median([r["latency_ms"] for r in rows])), 1),
            "mean_cost_usd": float(np.mean([r["cost_usd"] for r in rows]))}
