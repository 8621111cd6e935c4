"""Which dial points the profiles name, chosen on cross-validated estimates with their standard errors.

A dial point is the most accurate configuration of thousands within a budget, picked on the training
prompts: its training accuracy is the luckiest of many, and a dearer point can look better than a cheaper
one by noise alone (on held-out MMLU-Pro, ``auto:best`` once came out less accurate than ``auto:balanced``
at four times the cost). So each named point is estimated by 2-fold cross-validation of the *rule* that
chose it - "the most accurate configuration within this budget", "the most accurate of all" - chosen on one
half of the training prompts and scored, prompt by prompt, on the other. Then, going up the profiles:

- ``balanced`` is never expected to be less accurate than ``economy`` (else it is ``economy``'s point);
- ``best`` is the dearer point with the best estimate, only where it beats ``balanced`` by at least one
  standard error of their paired per-prompt difference - otherwise ``best`` is ``balanced``.

Category-aware configurations carry their own 2-fold estimates (``dial_search.category_aware_configs``) and
are taken as estimated, with a binomial standard error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from switchboard.domain.dial import OperatingPoint

PerPrompt = Callable[[tuple], tuple[np.ndarray, np.ndarray]]  # config -> (correct 0/1/NaN, spend per 1k) per prompt


@dataclass
class Estimate:
    """A point's cross-validated outcome: per prompt where a rule chose it (None for a point taken as its
    own estimate), and in all."""

    accuracy: float
    cost_per_1k: float
    correct: np.ndarray | None = None
    prompts: int = 0

    def standard_error_against(self, other: Estimate) -> float:
        """The standard error of the difference of the two accuracies (paired where both have per-prompt
        outcomes)."""
        if self.correct is not None and other.correct is not None:
            both = ~np.isnan(self.correct) & ~np.isnan(other.correct)
            diff = self.correct[both] - other.correct[both]
            return float(np.std(diff, ddof=1) / math.sqrt(max(1, len(diff) - 1))) if len(diff) > 1 else 1.0
        def var(e: Estimate) -> float:
            return e.accuracy * (1 - e.accuracy) / max(1, e.prompts)
        return math.sqrt(var(self) + var(other))


def _half_stats(per_cat: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(configs, 2, 2): per half, (accuracy, cost per 1k) of each uniform configuration."""
    correct, graded, spend = per_cat[:, 0].sum(axis=2), per_cat[:, 1].sum(axis=2), per_cat[:, 2].sum(axis=2)
    return np.stack([correct / np.maximum(graded, 1.0), spend / np.maximum(counts[None, :], 1.0)], axis=2)


def _pick(stats: np.ndarray, limit: float | None) -> int | None:
    """The most accurate configuration (0.1-pt resolution, ties to the cheaper) costing at most ``limit``."""
    ok = np.arange(len(stats)) if limit is None else np.nonzero(stats[:, 1] <= limit)[0]
    if len(ok) == 0:
        return None
    return int(min(ok, key=lambda i: (-round(float(stats[i, 0]), 3), float(stats[i, 1]))))


def estimate_points(points: Sequence[OperatingPoint], configs: Sequence[tuple], per_cat: np.ndarray,
                    half: np.ndarray, per_prompt: PerPrompt, limits: dict[str, float | None]) -> dict[str, Estimate]:
    """Each point's 2-fold estimate: for a point a budget rule named (``limits``: point name -> the most a
    configuration may cost per 1k, None for no limit), that rule chosen on each half among the uniform
    configurations and scored prompt by prompt on the other; any other point as its own figures."""
    uniform = [i for i, c in enumerate(configs) if len(c) <= 8 or not c[8]]
    counts = np.bincount(half, minlength=2).astype(float)
    stats = _half_stats(per_cat[uniform], counts) if uniform else np.zeros((0, 2, 2))
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    out: dict[str, Estimate] = {}
    for point in points:
        if point.name not in limits or not uniform:
            out[point.name] = Estimate(point.train_accuracy or 0.0, point.train_cost_per_1k or 0.0,
                                       prompts=len(half))
            continue
        correct, spend = np.full(len(half), np.nan), np.zeros(len(half))
        for h in (0, 1):
            pick = _pick(stats[:, h], limits[point.name])
            if pick is None:
                break
            index = uniform[pick]
            if index not in cache:
                cache[index] = per_prompt(configs[index])
            rows = half == 1 - h
            correct[rows], spend[rows] = cache[index][0][rows], cache[index][1][rows]
        else:
            out[point.name] = Estimate(float(np.nanmean(correct)), float(spend.mean()), correct, len(half))
            continue
        out[point.name] = Estimate(point.train_accuracy or 0.0, point.train_cost_per_1k or 0.0, prompts=len(half))
    return out


def profiles_by_estimate(points: Sequence[OperatingPoint], profiles: dict[str, str], estimates: dict[str, Estimate]
                         ) -> tuple[dict[str, str], dict[str, Any]]:
    """The profiles re-examined on the estimates (see the module): returns the profiles and why."""
    chosen = dict(profiles)
    why: dict[str, Any] = {}
    if {"economy", "balanced"} <= set(chosen):
        econ, bal = estimates[chosen["economy"]], estimates[chosen["balanced"]]
        if bal.accuracy < econ.accuracy:
            why["balanced"] = f"{chosen['balanced']} estimated less accurate than economy's {chosen['economy']}"
            chosen["balanced"] = chosen["economy"]
    if {"balanced", "best"} <= set(chosen):
        base = estimates[chosen["balanced"]]
        dearer = [p for p in points if estimates[p.name].cost_per_1k > base.cost_per_1k]
        top = max(dearer, key=lambda p: (estimates[p.name].accuracy, -estimates[p.name].cost_per_1k), default=None)
        if top is not None:
            gain = estimates[top.name].accuracy - base.accuracy
            se = estimates[top.name].standard_error_against(base)
            why["best"] = {"candidate": top.name, "gain": round(gain, 4), "standard_error": round(se, 4)}
            chosen["best"] = top.name if gain > 0 and gain >= se else chosen["balanced"]
        else:
            chosen["best"] = chosen["balanced"]
    return chosen, why
