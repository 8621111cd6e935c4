"""Searching the dial: how ``switchboard train`` finds and names operating points on recorded outcomes.

An ``OperatingPoint`` says how each prompt's cascade is built from a tier order (how many models, whether
the second model answers at once as tier 0's agreement judge, which answer the safety net returns) and
when a tier accepts (its confidence bar). ``choose_dial`` picks named points from the searched
configurations (one per budget, the cheapest that beats the best single model, the most accurate);
``category_aware_configs`` adds per-category settings by Lagrangian relaxation; ``greedy_order`` orders
models by marginal fused accuracy per cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from switchboard.domain.dial import OperatingPoint, PointConfig

THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96, 0.98, 1.01)
BUDGET_FRACTIONS = (1 / 80, 1 / 40, 1 / 20, 1 / 10, 1 / 6, 1 / 4, 1 / 2, 1.0)
CATEGORY_PENALTY = 0.0  # extra accuracy a category-aware setting must show (its own is cross-validated)
COST_MARGIN = 0.92  # a dial point for a budget costs at most this share of it on the training prompts
# The safety-net tier accepts the fused answer of every answer bought: it is better informed than any
# earlier attempt, whose confidence was computed before the last answers contradicted it.
FINAL_THRESHOLD = 0.0


CONFIG_KEYS = ("order", "pair_start", "models", "cheap", "last", "own_last")
# The named profiles a request can ask for, and the budget fraction (of the best single model's cost) each
# stands for: economy is the bar-2 point (<= 1/10), balanced the bar-1 point (<= 1/4); best is dial:best.
PROFILE_FRACTIONS = {"economy": 1 / 10, "balanced": 1 / 4}


def config_of(values: Sequence) -> PointConfig:
    """A ``PointConfig`` from a configuration tuple's (order, pair_start, models, cheap, last, own_last)."""
    return PointConfig(**dict(zip(CONFIG_KEYS, values, strict=True)))


def point_params(point: OperatingPoint) -> dict:
    """A point as results.json reports it."""
    out = {"name": point.name, "order": point.order, "pair_start": point.pair_start, "models": point.models,
           "thresholds": {"cheap": point.cheap, "last": point.last, "final": FINAL_THRESHOLD},
           "own_last": point.own_last, "train_accuracy": _rounded(point.train_accuracy, 4),
           "train_cost_per_1k_usd": _rounded(point.train_cost_per_1k, 5), "budget_fraction": point.budget_fraction}
    if point.per_category:
        out["per_category"] = {c: v.model_dump() for c, v in point.per_category.items()}
    return out


def _rounded(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def greedy_order(acc_of: Callable[[list[int]], float], cost: np.ndarray, eps: float = 0.002,
                 pair_step: bool = True) -> list[int]:
    """Order models by marginal fused accuracy per cost (a greedy cover of the cost-accuracy frontier).

    Starts from the model with the best accuracy per cost; the second step may add two models at once
    (a two-answer vote cannot break a tie, a three-answer one can). Stops when nothing adds ``eps``.
    """
    k = len(cost)
    singles = {j: acc_of([j]) for j in range(k)}
    first = max(range(k), key=lambda j: singles[j] / max(float(cost[j]), 1e-12))
    order, current = [first], singles[first]
    while len(order) < k:
        best_gain, best_add, best_acc = 0.0, None, current
        rest = [j for j in range(k) if j not in order]
        options: list[tuple[int, ...]] = [(j,) for j in rest]
        if pair_step and len(order) == 1:
            options += [(a, b) for ai, a in enumerate(rest) for b in rest[ai + 1:]]
        for add in options:
            acc = acc_of(order + list(add))
            gain = (acc - current) / max(sum(cost[j] for j in add), 1e-12)
            if acc > current + eps * len(add) and gain > best_gain:
                best_gain, best_add, best_acc = gain, add, acc
        if best_add is None:
            break
        order += sorted(best_add, key=lambda j: cost[j])
        current = best_acc
    return order


def category_aware_configs(configs: list[tuple], per_cat: np.ndarray, names: Sequence[str], n: int,
                           lambdas: int = 160) -> list[tuple]:
    """Per-category settings of the dial by Lagrangian relaxation on the training prompts.

    Candidates are the settings on the (global) cost-accuracy frontier - a few dozen. For each price of
    accuracy ``lam``, every category independently takes the candidate maximising (correct answers - lam
    x spend); sweeping ``lam`` traces the category-aware frontier. ``per_cat`` is (configs, 3, 2, C):
    correct answers, graded prompts and spend per random half of the training prompts and category.
    A choice made per category on the same prompts it is scored on is optimistic, so the accuracy and
    cost attached to each ``lam`` are 2-fold cross-validated (choose on one half, score on the other);
    the deployed mapping is then chosen on both halves. Returns configuration tuples with a trailing
    ``per_category`` mapping (the default setting is the global-frontier one nearest in cost).
    """
    from switchboard.offline.evaluation.metrics import pareto_frontier

    cost = np.asarray([c[0] for c in configs])
    acc = np.asarray([c[1] for c in configs])
    front = pareto_frontier(cost, acc)
    A, G, K = per_cat[front, 0], per_cat[front, 1], per_cat[front, 2]  # (F, 2, C)
    graded = G[0].sum()
    cols = np.arange(A.shape[2])
    out: list[tuple] = []
    seen: set[tuple] = set()
    for lam in np.concatenate([[0.0], np.geomspace(1e-4, 10.0, lambdas)]):
        choice = np.argmax(A.sum(axis=1) - lam * K.sum(axis=1), axis=0)  # (C,) on all training prompts
        key = tuple(choice.tolist())
        if key in seen:
            continue
        seen.add(key)
        cv_acc, cv_cost = 0.0, 0.0
        for h in (0, 1):
            pick = np.argmax(A[:, h] - lam * K[:, h], axis=0)
            cv_acc += A[pick, 1 - h, cols].sum()
            cv_cost += K[pick, 1 - h, cols].sum()
        total_cost, total_acc = float(cv_cost / n), float(cv_acc / max(graded, 1.0))
        default = configs[front[int(np.argmin(np.abs(cost[front] - total_cost)))]]
        mapping = {name: config_of(configs[front[int(choice[c])]][2:8]) for c, name in enumerate(names)}
        if len(set(mapping.values())) == 1:
            continue  # the same setting everywhere: already a uniform configuration
        out.append((total_cost, total_acc, *default[2:8], mapping))
    return out


def choose_dial(configs: list[tuple], best_single_cost: float, best_single_acc: float
                ) -> tuple[list[OperatingPoint], dict[str, str]]:
    """Named operating points from the searched (cost, accuracy, ...) configurations on training data,
    and the profiles (``economy``, ``balanced``, ``best``) that name three of them.

    - ``dial@<f>``: the most accurate configuration costing at most COST_MARGIN x f x the best single
      model's cost, for each budget fraction f (1/80 ... 1x);
    - ``dial:match-best``: the cheapest configuration at least 0.5 pt above the best single model;
    - ``dial:best``: the most accurate configuration.
    Accuracy is compared at 0.1-pt resolution, ties going to the cheaper configuration. A configuration
    chosen for several budgets keeps its first name. ``economy`` and ``balanced`` are the points chosen
    for 1/10 and 1/4 of the best single model's cost (the cheapest point when none fits), ``best`` is
    ``dial:best``.
    """
    def make(name: str, cfg: tuple, fraction: float | None) -> OperatingPoint:
        cost, acc, mode, pair, n_models, cheap, last, own_last = cfg[:8]
        per_category = cfg[8] if len(cfg) > 8 else {}
        return OperatingPoint(name=name, order=mode, pair_start=pair, models=n_models, cheap=cheap, last=last,
                              own_last=own_last, train_accuracy=acc, train_cost_per_1k=cost,
                              budget_fraction=fraction, per_category=per_category)

    def merit(c: tuple) -> float:
        # a category-aware setting is picked per category on the same prompts it is scored on, so its
        # training accuracy is optimistic: it must beat a uniform setting by CATEGORY_PENALTY
        return round(c[1] - (CATEGORY_PENALTY if len(c) > 8 and c[8] else 0.0), 3)

    def most_accurate(options: list[tuple]) -> tuple:
        return max(options, key=lambda c: (merit(c), -c[0]))

    points: list[OperatingPoint] = []
    for f in BUDGET_FRACTIONS:
        within = [c for c in configs if c[0] <= COST_MARGIN * f * best_single_cost]
        if within:
            points.append(make(f"dial@{fraction_name(f)}", most_accurate(within), f))
    match = [c for c in configs if merit(c) >= best_single_acc + 0.005]
    if match:
        points.append(make("dial:match-best", min(match, key=lambda c: c[0]), None))
    if configs:
        points.append(make("dial:best", most_accurate(configs), None))
    first_name: dict[tuple, str] = {}
    unique = []
    alias: dict[str, str] = {}
    for p in points:  # the same configuration chosen for several budgets keeps its first name
        key = (p.config_for(None), tuple(sorted(p.per_category.items())))
        if key not in first_name:
            first_name[key] = p.name
            unique.append(p)
        alias[p.name] = first_name[key]
    profiles: dict[str, str] = {}
    if unique:
        cheapest = min(unique, key=lambda p: (p.train_cost_per_1k or 0.0))
        # a pool with no model cheap enough for a fraction (a local pool: its cheapest model costs a third of
        # its strongest) would give ``balanced`` the cheapest model alone; it takes the most accurate point
        # cheaper than the best single model instead, and ``economy`` the cheapest point
        cheaper = [p for p in unique if (p.train_cost_per_1k or 0.0) < best_single_cost]
        fallback = {"balanced": max(cheaper, key=lambda p: (round(p.train_accuracy or 0.0, 3),
                                                            -(p.train_cost_per_1k or 0.0))).name
                    if cheaper else cheapest.name}
        for profile, fraction in PROFILE_FRACTIONS.items():
            profiles[profile] = alias.get(f"dial@{fraction_name(fraction)}", fallback.get(profile, cheapest.name))
        profiles["best"] = alias.get("dial:best", unique[-1].name)
    return unique, profiles


def fraction_name(f: float) -> str:
    if f >= 1:
        return "1x"
    return f"1/{int(round(1 / f))}" if math.isclose(1 / f, round(1 / f)) else f"{f:.3f}"


def layouts(modes: Sequence[str], max_models: int) -> list[tuple[str, bool, int, bool]]:
    """Every cascade layout the dial searches: (order mode, pair start, models, own_last)."""
    return [(mode, pair, n_models, own_last) for mode in modes for pair in (True, False)
            for n_models in range(3 if pair else 1, max_models + 1) for own_last in (False, True)
            if not (own_last and n_models == 1)]


def search_configs(scored_layout: Callable[[str, bool, int, bool], tuple[Any, np.ndarray]],
                   candidates: Sequence[tuple[str, bool, int, bool]], correct: np.ndarray, tax_idx: np.ndarray,
                   half: np.ndarray, category_names: Sequence[str], per_category: bool = True,
                   progress: Callable[[Iterable], Iterable] = lambda it: it) -> tuple[list[tuple], np.ndarray]:
    """The dial's search on out-of-fold training scores: every layout x (cheap, last) bar pair.

    ``scored_layout(mode, pair, models, own_last)`` returns the layout's ``Scored`` (confidence, spend and
    returned answer per tier) and each prompt's number of tiers; the accept/stop rule is applied
    vectorised (``replay.stop_rule``, checked equal to ``run_cascade``). Returns configuration tuples
    ``(cost per 1k, accuracy, mode, pair, models, cheap, last, own_last[, per_category])``; with
    ``per_category``, the category-aware settings of ``category_aware_configs`` are added, fitted with
    ``half`` (a random 2-fold split of the prompts) for their cross-validated estimates. Also returns, per
    uniform configuration (the first ones), its correct answers, graded prompts and spend per half and
    category ``(configs, 3, 2, C)``.
    """
    from switchboard.offline.stop_rules import stop_rule, two_level_thresholds

    n = len(tax_idx)
    n_cat = len(category_names)
    rows = np.arange(n)
    cell = half * n_cat + tax_idx
    configs: list[tuple] = []
    per_cat: list[np.ndarray] = []  # per config: (3, 2, C) correct answers, graded prompts, cost per category
    for mode, pair, n_models, own_last in progress(candidates):
        scored, lens = scored_layout(mode, pair, n_models, own_last)
        depth = int(lens.max())
        cum = np.cumsum(scored.new_cost, axis=1) * 1000
        for cheap in THRESHOLDS:
            for last in THRESHOLDS:
                if depth <= 1 and (cheap, last) != (THRESHOLDS[0], THRESHOLDS[0]):
                    continue
                if depth <= 2 and cheap != THRESHOLDS[0]:
                    continue
                thr = two_level_thresholds(lens, depth, cheap, last, FINAL_THRESHOLD)
                stop, ret = stop_rule(scored.confidence, lens, thr)
                ok = correct[rows, scored.rep[rows, ret]]
                spend = cum[rows, stop]
                configs.append((float(spend.mean()), float(np.nanmean(ok)), mode, pair, n_models, cheap, last,
                                own_last))
                per_cat.append(np.stack([np.bincount(cell, np.nan_to_num(ok), 2 * n_cat),
                                         np.bincount(cell, (~np.isnan(ok)).astype(float), 2 * n_cat),
                                         np.bincount(cell, spend, 2 * n_cat)]).reshape(3, 2, n_cat))
    stacked = np.stack(per_cat) if per_cat else np.zeros((0, 3, 2, n_cat))
    if per_category and n_cat > 1:
        configs += category_aware_configs(configs, stacked, category_names, n)
    return configs, stacked
