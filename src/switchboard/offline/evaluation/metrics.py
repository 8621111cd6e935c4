"""Metrics of routing strategies: accuracy, cost per 1k prompts, escalation rate, the cost-quality frontier,
AIQ (RouterBench) and IBC (AutoMix). Pure numpy functions."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np


def accuracy(correct: np.ndarray) -> float:
    """Mean over prompts whose returned answer was graded (NaN = the benchmark did not grade that call),
    which is how the data README computes single-model accuracy."""
    values = np.asarray(correct, dtype=float)
    if values.size == 0 or np.isnan(values).all():
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(values))


def cost_per_1k(cost: np.ndarray) -> float:
    """Mean USD per prompt x 1000."""
    values = np.asarray(cost, dtype=float)
    return float(values.mean() * 1000.0) if values.size else float("nan")


def escalation_rate(tiers_used: np.ndarray) -> float:
    """Share of prompts that needed more than the first tier."""
    values = np.asarray(tiers_used)
    return float((values > 1).mean()) if values.size else float("nan")


def pareto_frontier(costs: Sequence[float] | np.ndarray, accs: Sequence[float] | np.ndarray) -> list[int]:
    """Indices of the points not dominated (no other point is at most as costly and strictly more
    accurate, or strictly cheaper and at least as accurate), sorted by cost."""
    c = np.asarray(costs, dtype=float)
    a = np.asarray(accs, dtype=float)
    order = sorted(range(len(c)), key=lambda i: (c[i], -a[i]))
    frontier: list[int] = []
    best = -np.inf
    for i in order:
        if a[i] > best:
            frontier.append(i)
            best = a[i]
    return frontier


def upper_hull(costs: Sequence[float], accs: Sequence[float]) -> np.ndarray:
    """Non-decreasing concave upper hull of (cost, accuracy) points, as an (m, 2) array sorted by cost.

    A mix of two strategies (run A on a share of prompts, B on the rest) reaches every point on the
    segment between them, so the achievable quality at a cost is this hull (RouterBench's R~).
    """
    pts = sorted({(float(c), float(a)) for c, a in zip(costs, accs, strict=True)
                  if np.isfinite(c) and np.isfinite(a)})
    if not pts:
        return np.zeros((0, 2))
    # keep the best accuracy per cost, then only points that raise accuracy (non-decreasing)
    mono: list[tuple[float, float]] = []
    for c, a in pts:
        if mono and mono[-1][0] == c:
            mono[-1] = (c, max(mono[-1][1], a))
            continue
        if not mono or a > mono[-1][1]:
            mono.append((c, a))
    hull: list[tuple[float, float]] = []
    for p in mono:  # monotone chain, upper part
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    return np.asarray(hull, dtype=float)


def aiq(costs: Sequence[float], accs: Sequence[float], max_cost: float, min_cost: float = 0.0) -> float:
    """RouterBench's Average Improvement in Quality: the area under the strategy family's non-decreasing
    convex hull over [min_cost, max_cost], divided by the range. The hull is 0 left of the family's
    cheapest point and flat right of its most expensive one (as in RouterBench's ``calc_AIQ``, whose
    range starts at 0 and ends at the largest cost among the compared routers)."""
    hull = upper_hull(costs, accs)
    if len(hull) == 0 or max_cost <= min_cost:
        return float("nan")
    xs = np.linspace(min_cost, max_cost, 4001)
    ys = np.interp(xs, hull[:, 0], hull[:, 1], left=0.0, right=float(hull[-1, 1]))
    ys[xs < hull[0, 0]] = 0.0
    return float(np.trapezoid(ys, xs) / (max_cost - min_cost))


def ibc(acc: float, cost: float, base_acc: float, base_cost: float) -> float:
    """AutoMix's incremental benefit per cost of a method over a base (the cheap model): accuracy gained
    per USD per 1k prompts spent beyond the base; NaN when no extra was spent."""
    extra = cost - base_cost
    if extra <= 0:
        return float("nan")
    return (acc - base_acc) / extra


def ibc_lift(acc: float, cost: float, slm: tuple[float, float], llm: tuple[float, float]) -> float:
    """AutoMix's IBC lift: (IBC_method - IBC_base) / IBC_base, with IBC_base the slope from the small
    model (acc, cost) to the large one. Positive = better than linearly mixing the two models."""
    base = ibc(llm[0], llm[1], slm[0], slm[1])
    method = ibc(acc, cost, slm[0], slm[1])
    if not np.isfinite(base) or base == 0 or not np.isfinite(method):
        return float("nan")
    return (method - base) / base


def aiq_gap_interval(families: dict[str, tuple[np.ndarray, np.ndarray]], max_cost: float, first: str,
                     others: Sequence[str], draws: int = 1000, seed: int = 0) -> dict:
    """How far family ``first``'s AIQ is above the best of ``others``' on these prompts, with a paired
    bootstrap 95 % interval over the prompts. ``families[name] = (correct, cost)``: arrays of shape
    (points, prompts) - each operating point's outcome (1/0, NaN unlabelled) and cost per prompt, in USD.
    Every draw resamples the same prompts for all families, so what the families share cancels."""
    def gap(rows: np.ndarray | slice) -> float:
        score = {}
        for name in (first, *others):
            correct, cost = families[name]
            score[name] = aiq(list(cost[:, rows].mean(axis=1) * 1000), list(np.nanmean(correct[:, rows], axis=1)),
                              max_cost)
        return score[first] - max(score[name] for name in others)

    prompts = next(iter(families.values()))[0].shape[1]
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, prompts, size=(draws, prompts))  # one row of prompts per draw
    gaps = np.asarray([gap(rows) for rows in samples])
    low, high = np.nanpercentile(gaps, [2.5, 97.5])
    return {"gap": round(gap(slice(None)), 5), "ci95": [round(float(low), 5), round(float(high), 5)],
            "draws": draws}
