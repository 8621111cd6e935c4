"""``switchboard train``: taxonomy, learned router, verifier, calibration and the cost-accuracy dial.

Everything here sees only the training prompts. Models stacked on each other are cross-fitted: the
learned router's out-of-fold predictions feed the verifier's training rows, the verifier's out-of-fold
scores feed the calibration and the dial search, so nothing is calibrated on predictions of a model that
saw the same labels. The final router and verifier are then refitted on all training prompts.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from switchboard.domain.policy import Calibration

from .cascades import Plan, Scored, Situation, score_plan, stop_rule, two_level_thresholds
from .data import RecordedOutcomes
from .judges import LearnedVerifier, fuse, training_rows
from .routers import LearnedRouter, RouterEnsemble, Taxonomy, build_taxonomy, cross_fit

log = logging.getLogger(__name__)

THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96, 0.98, 1.01)
BUDGET_FRACTIONS = (1 / 80, 1 / 40, 1 / 20, 1 / 10, 1 / 6, 1 / 4, 1 / 2, 1.0)
CATEGORY_PENALTY = 0.0  # extra accuracy a category-aware setting must show (its own is cross-validated)
COST_MARGIN = 0.92  # a dial point for a budget costs at most this share of it on the training prompts
# The safety-net tier accepts the fused answer of every answer bought: it is better informed than any
# earlier attempt, whose confidence was computed before the last answers contradicted it.
FINAL_THRESHOLD = 0.0  # a dial point chosen for a budget must cost at most this share of it on training data


def _bar(iterable, desc: str, progress: bool, total: int | None = None):  # noqa: ANN001, ANN202
    if not progress:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, unit="step", leave=False)


@dataclass
class TrainConfig:
    router_folds: int = 5
    verifier_folds: int = 3
    subsets_per_prompt: int = 6
    max_models: int = 6
    seed: int = 0
    category_orders: bool = True
    min_category_prompts: int = 150
    per_category_dial: bool = True


CONFIG_KEYS = ("order", "pair_start", "models", "cheap", "last", "own_last")


@dataclass
class OperatingPoint:
    """One setting of the dial: how to build each prompt's cascade and when to accept.

    The cascade uses the first ``models - 1`` models of the prompt's tier order (global or its
    category's), then the order's safety net; with ``pair_start`` the second model answers at once as tier
    0's agreement judge. ``cheap`` is the confidence bar of every tier except the decision before the
    safety net, whose bar is ``last``; a bar above 1 never accepts. The final tier accepts (bar 0); it
    returns the fused answer of every answer bought, or with ``own_last`` the safety net's own answer.
    ``per_category`` overrides these settings for the prompts matched to a category (the taxonomy
    makes the dial category-aware: e.g. straight to the strong model where cheap models are weak).
    """

    name: str
    order: str  # "global" | "category"
    pair_start: bool
    models: int
    cheap: float
    last: float
    own_last: bool = False
    train_accuracy: float = float("nan")
    train_cost_per_1k: float = float("nan")
    budget_fraction: float | None = None
    per_category: dict[str, dict] = field(default_factory=dict)

    def config(self) -> dict:
        return {k: getattr(self, k) for k in CONFIG_KEYS}

    def config_for(self, category: str) -> dict:
        return self.per_category.get(category, self.config())

    def as_dict(self) -> dict:
        out = {"name": self.name, "order": self.order, "pair_start": self.pair_start, "models": self.models,
               "thresholds": {"cheap": self.cheap, "last": self.last, "final": FINAL_THRESHOLD},
               "own_last": self.own_last, "train_accuracy": round(self.train_accuracy, 4),
               "train_cost_per_1k_usd": round(self.train_cost_per_1k, 5), "budget_fraction": self.budget_fraction}
        if self.per_category:
            out["per_category"] = self.per_category
        return out

    @classmethod
    def from_dict(cls, d: dict) -> OperatingPoint:
        return cls(d["name"], d["order"], bool(d["pair_start"]), int(d["models"]), float(d["thresholds"]["cheap"]),
                   float(d["thresholds"]["last"]), bool(d.get("own_last", False)),
                   float(d.get("train_accuracy", "nan")), float(d.get("train_cost_per_1k_usd", "nan")),
                   d.get("budget_fraction"), {c: dict(v) for c, v in d.get("per_category", {}).items()})


@dataclass
class System:
    """Everything ``switchboard train`` fits, in memory (``artifacts.write_artifacts`` saves it)."""

    models: list[str]
    prices: dict[str, dict[str, float]]
    taxonomy: Taxonomy
    router: RouterEnsemble
    verifier: LearnedVerifier
    calibration: Calibration
    weights: dict[str, float]
    global_order: list[int]
    category_orders: dict[str, list[int]]
    dial: list[OperatingPoint]
    mean_cost: np.ndarray  # (k,) USD per call on training data
    train_accuracy: np.ndarray  # (k,)
    best_model: int
    stats: dict = field(default_factory=dict)

    def order_for(self, mode: str, category_idx: int) -> list[int]:
        if mode == "category":
            return self.category_orders.get(self.taxonomy.names[category_idx], self.global_order)
        return self.global_order

    def layout(self, mode: str, n_models: int, pair_start: bool, category_idx: np.ndarray
               ) -> tuple[list[list[int]], list[list[list[int]]], np.ndarray]:
        tiers, judges = [], []
        for c in category_idx:
            t, j = cascade_layout(self.order_for(mode, int(c)), n_models, pair_start)
            tiers.append(t)
            judges.append(j)
        return tiers, judges, np.asarray([len(t) for t in tiers])

    def plan(self, point: OperatingPoint, category_idx: np.ndarray) -> Plan:
        tiers, judges, thresholds, own_last = [], [], [], []
        for c in category_idx:
            cfg = point.config_for(self.taxonomy.names[int(c)])
            t, j = cascade_layout(self.order_for(cfg["order"], int(c)), int(cfg["models"]), bool(cfg["pair_start"]))
            tiers.append(t)
            judges.append(j)
            thr = two_level_thresholds(np.asarray([len(t)]), len(t), float(cfg["cheap"]), float(cfg["last"]),
                                       FINAL_THRESHOLD)[0]
            thresholds.append([float(v) for v in thr])
            own_last.append(bool(cfg["own_last"]))
        return Plan(tiers, judges, thresholds, fuse=True, own_last=own_last)


def cascade_layout(order: Sequence[int], n_models: int, pair_start: bool) -> tuple[list[int], list[list[int]]]:
    """Tiers and judges from a model order whose last model is the safety net (the most accurate): the
    first ``n_models - 1`` models, then the safety net. With ``pair_start`` the second model answers at
    once as tier 0's agreement judge instead of being a tier of its own."""
    order = list(order)
    n_models = max(1, min(n_models, len(order)))
    use = [*order[: n_models - 1], order[-1]]
    if pair_start and len(use) >= 3:
        return [use[0], *use[2:]], [[use[1]]] + [[] for _ in use[2:]]
    return use, [[] for _ in use]


class OofScorer:
    """Scores plans on training prompts with the verifier of the fold each prompt was held out of."""

    def __init__(self, sit: Situation, fold_of: np.ndarray, verifiers: Sequence[LearnedVerifier]) -> None:
        self.sit, self.fold_of, self.verifiers = sit, fold_of, list(verifiers)

    def score(self, plan: Plan, weights: dict[str, float] | None = None,
              calibration: Calibration | None = None) -> Scored:
        n, T = self.sit.n, plan.depth
        out = Scored(np.full((n, T), -1, dtype=int), np.full((n, T), -1, dtype=int), np.full((n, T), np.nan),
                     np.zeros((n, T)), np.full((n, T), np.nan), np.zeros((n, T), dtype=int),
                     [[] for _ in range(n)])
        for f, verifier in enumerate(self.verifiers):
            idx = np.nonzero(self.fold_of == f)[0]
            if len(idx) == 0:
                continue
            s = score_plan(self.sit.rows(idx), plan.rows(idx), verifier.predict, weights, calibration)
            width = s.rep.shape[1]
            out.rep[idx, :width] = s.rep
            out.answer[idx, :width] = s.answer
            out.score[idx, :width] = s.score
            out.new_cost[idx, :width] = s.new_cost
            out.confidence[idx, :width] = s.confidence
            out.n_answers[idx, :width] = s.n_answers
            for r, i in enumerate(idx):
                out.verdicts[i] = s.verdicts[r] + [[] for _ in range(T - width)]
        return out

    def fused_correct(self, called: np.ndarray, correct: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Correctness of the fused answer of ``called`` models for the given prompt rows."""
        out = np.full(len(rows), np.nan)
        for f, verifier in enumerate(self.verifiers):
            sel = np.nonzero(self.fold_of[rows] == f)[0]
            if len(sel) == 0:
                continue
            idx = rows[sel]
            fused = fuse(self.sit.answer_ids[idx], called[sel], self.sit.router_p[idx], self.sit.resp_len[idx],
                         verifier.predict)
            out[sel] = [correct[i, fz.rep] for i, fz in zip(idx, fused, strict=True)]
        return out


def greedy_order(acc_of: Callable[[list[int]], float], cost: np.ndarray, eps: float = 0.002,
                 pair_step: bool = True) -> list[int]:
    """Order models by marginal fused accuracy per cost (a greedy cover of the cost-accuracy frontier).

    Starts from the model with the best accuracy per cost; the second step may add two models at once
    (a two-answer vote cannot break a tie, a three-answer one can). Stops when nothing adds ``eps``.
    """
    k = len(cost)
    singles = {j: acc_of([j]) for j in range(k)}
    first = max(range(k), key=lambda j: singles[j] / max(cost[j], 1e-12))
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


def _isotonic(x: np.ndarray, y: np.ndarray, knots: int = 40) -> Calibration:
    from sklearn.isotonic import IsotonicRegression

    ok = ~np.isnan(x) & ~np.isnan(y)
    if ok.sum() < 20:
        return Calibration()
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x[ok], y[ok])
    xs = np.asarray(iso.X_thresholds_, dtype=float)
    ys = np.asarray(iso.y_thresholds_, dtype=float)
    if len(xs) > knots:  # thin the knots (the map stays monotone)
        keep = np.unique(np.linspace(0, len(xs) - 1, knots).round().astype(int))
        xs, ys = xs[keep], ys[keep]
    return Calibration(xs=[round(float(v), 6) for v in xs], ys=[round(float(v), 6) for v in ys])


def _with_safety_net(order: list[int], best: int, max_models: int) -> list[int]:
    """The order's first models, then the most accurate model last (the cascade's safety net)."""
    return [*[m for m in order if m != best][: max_models - 1], best]


def fit_system(data: RecordedOutcomes, embeddings: np.ndarray, prices: dict[str, dict[str, float]],
               config: TrainConfig | None = None, progress: bool = True) -> tuple[System, dict]:
    """Fit every Switchboard component on ``data`` (the training prompts). Returns the system and the
    training-side intermediate results (out-of-fold predictions) that the evaluator's baselines reuse."""
    config = config or TrainConfig()
    t0 = time.time()
    if not prices or any(m not in prices for m in data.models):
        from .data import infer_prices

        inferred = infer_prices(data)
        prices = {m: (prices or {}).get(m, inferred[m]) for m in data.models}
    correct = data.labels.correct
    n, k = data.n, data.k
    bar = _bar(range(6), "train", progress, total=6)
    ticks = iter(bar)

    def tick(what: str) -> None:
        next(ticks, None)
        if progress and hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(what)

    tick("taxonomy")
    # 1. taxonomy: the training data's category labels -> centroids, per-model accuracy and cost, tiers
    taxonomy = build_taxonomy(embeddings, data.categories, correct, data.cost, data.models)
    tax_idx, _ = taxonomy.assign(embeddings)

    tick("learned router")
    # 2. learned router: out-of-fold predictions for stacking, then the final fit on every prompt
    def make_router() -> LearnedRouter:
        return LearnedRouter(hidden=256, alpha=0.1, seed=config.seed)

    router_oof, members = cross_fit(make_router, embeddings, correct, folds=config.router_folds, seed=config.seed)
    router = RouterEnsemble(members)

    tick("verifier")
    # 3. verifier: cross-fitted over prompt folds, then the final fit
    resp_len = np.vectorize(len, otypes=[float])(data.responses)
    sit = Situation(data.answer_ids, data.cost, router_oof, resp_len, data.responses, list(data.models))
    fold_of = np.random.default_rng(config.seed + 1).permutation(n) % config.verifier_folds
    X, y, prompt = training_rows(data.answer_ids, correct, router_oof, resp_len,
                                 per_prompt=config.subsets_per_prompt, seed=config.seed)
    fold_verifiers = [LearnedVerifier(seed=config.seed).fit(X[fold_of[prompt] != f], y[fold_of[prompt] != f])
                      for f in range(config.verifier_folds)]
    verifier = LearnedVerifier(seed=config.seed).fit(X, y)
    oof = OofScorer(sit, fold_of, fold_verifiers)

    tick("tier orders")
    # 4. tier orders: greedy marginal fused accuracy per cost, globally and per category
    mean_cost = data.cost.mean(axis=0)
    train_acc = data.accuracy()
    best_model = int(np.nanargmax(train_acc))

    def acc_on(rows: np.ndarray) -> Callable[[list[int]], float]:
        cache: dict[tuple[int, ...], float] = {}

        def acc_of(models: list[int]) -> float:
            key = tuple(sorted(models))
            if key not in cache:
                called = np.zeros((len(rows), k), dtype=bool)
                called[:, list(key)] = True
                cache[key] = float(np.nanmean(oof.fused_correct(called, correct, rows)))
            return cache[key]

        return acc_of

    global_order = _with_safety_net(greedy_order(acc_on(np.arange(n)), mean_cost), best_model,
                                    config.max_models)
    category_orders: dict[str, list[int]] = {}
    if config.category_orders:
        for c, name in enumerate(taxonomy.names):
            rows = np.nonzero(tax_idx == c)[0]
            if len(rows) < config.min_category_prompts:
                continue
            cat_best = int(np.nanargmax(np.nan_to_num(np.nanmean(correct[rows], axis=0), nan=-1)))
            order = greedy_order(acc_on(rows), data.cost[rows].mean(axis=0), eps=0.004)
            category_orders[name] = _with_safety_net(order, cat_best, config.max_models)

    tick("calibration")
    # 5. calibration: isotonic map from the verifier's out-of-fold score of the fused answer (every prefix
    #    of every prompt's global order) to P(correct). The agreement verdicts get weight 0 in the mean:
    #    the verifier already weighs every agreement, with learned, prompt-dependent reliabilities.
    system = System(list(data.models), prices, taxonomy, router, verifier, Calibration(), {}, global_order,
                    category_orders, [], mean_cost, train_acc, best_model)
    probe = OperatingPoint("probe", "global", False, config.max_models, 1.01, 1.01, False)
    raw = oof.score(system.plan(probe, tax_idx))
    rr, cc = np.nonzero(raw.rep >= 0)
    calibration = _isotonic(raw.confidence[rr, cc], correct[rr, raw.rep[rr, cc]])
    weights = {"verifier": 1.0, **{f"agreement:{m}": 0.0 for m in data.models}}
    system.calibration, system.weights = calibration, weights

    tick("dial")
    # 6. the dial: orders x pair start x models x (cheap, last) thresholds, on out-of-fold scores
    configs: list[tuple] = []
    n_cat = len(taxonomy.names)
    per_cat: list[np.ndarray] = []  # per config: (3, C) correct answers, graded prompts, cost per category
    modes = ["global"] + (["category"] if category_orders else [])
    layouts = [(mode, pair, n_models, own_last) for mode in modes for pair in (True, False)
               for n_models in range(3 if pair else 1, config.max_models + 1) for own_last in (False, True)
               if not (own_last and n_models == 1)]
    rows = np.arange(n)
    half = np.random.default_rng(config.seed + 2).permutation(n) % 2  # for the category-aware dial's CV
    cell = half * n_cat + tax_idx
    for mode, pair, n_models, own_last in _bar(layouts, "dial search", progress):
        tiers, judges, lens = system.layout(mode, n_models, pair, tax_idx)
        depth = int(lens.max())
        plan = Plan(tiers, judges, [[1.01] * len(t) for t in tiers], fuse=True, own_last=own_last)
        scored = oof.score(plan, weights, calibration)
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
    if config.per_category_dial and n_cat > 1:
        configs += category_aware_configs(configs, np.stack(per_cat), taxonomy.names, n)
    dial = choose_dial(configs, float(mean_cost[best_model]) * 1000, float(train_acc[best_model]))
    system.dial = dial
    calibrators = compare_calibrators(system, oof, tax_idx, correct, dial)
    tick("done")
    if hasattr(bar, "close"):
        bar.close()
    system.stats = {"train_prompts": int(n), "train_seconds": round(time.time() - t0, 1),
                    "dial_configs_searched": len(configs), "verifier_rows": int(len(y)),
                    "calibrators": calibrators}
    extras = {"router_oof": router_oof, "oof": oof, "tax_idx": tax_idx, "resp_len": resp_len, "configs": configs}
    return system, extras


def compare_calibrators(system: System, oof: OofScorer, tax_idx: np.ndarray, correct: np.ndarray,
                        dial: Sequence[OperatingPoint]) -> dict:
    """Compare, on out-of-fold training scores, two calibrators of the costly decision - accept the fused
    answer of the cheap models or escalate to the safety net - for the layout of the dial's 1/4 point:
    isotonic confidence + threshold (what the dial deploys) and AutoMix's POMDP meta-verifier (the
    ``automix-llm`` union of POMDPSimple, GreedyPOMDP, DoubleThreshold, Threshold; its chosen setting
    maximises IBC lift). Reported as each family's AIQ over [cost of the cheap models, + safety net]."""
    from . import baselines as bl
    from .metrics import aiq, ibc_lift

    point = next((p for p in dial if p.budget_fraction == 0.25), None) or (dial[len(dial) // 2] if dial else None)
    if point is None or point.models < 2:
        return {}
    n = len(tax_idx)
    tiers, judges, lens = system.layout(point.order, point.models, point.pair_start, tax_idx)
    if lens.min() < 2:
        return {}
    plan = Plan(tiers, judges, [[1.01] * len(t) for t in tiers], own_last=point.own_last)
    scored = oof.score(plan, system.weights, system.calibration)
    rows = np.arange(n)
    before, after = lens - 2, lens - 1
    conf = np.nan_to_num(scored.confidence[rows, before], nan=0.0)
    slm_ok = correct[rows, scored.rep[rows, before]]
    llm_ok = correct[rows, scored.rep[rows, after]]
    cum = np.cumsum(scored.new_cost, axis=1) * 1000
    slm_cost, llm_cost = cum[rows, before], cum[rows, after]
    slm = (float(np.nanmean(slm_ok)), float(slm_cost.mean()))
    llm = (float(np.nanmean(llm_ok)), float(llm_cost.mean()))

    def point_of(escalate: np.ndarray) -> tuple[float, float]:
        acc = float(np.nanmean(np.where(escalate, llm_ok, slm_ok)))
        return float(np.where(escalate, llm_cost, slm_cost).mean()), acc

    families: dict[str, list[tuple[float, float]]] = {"threshold": [point_of(conf < t) for t in THRESHOLDS]}
    frame = bl.automix_frame(conf, slm_ok, llm_ok)
    automix, method, params = bl.train_automix("pomdp", frame, (slm[1], llm[1]))
    pomdp = []
    for param in params:
        cal = bl.policy_calibration(method, param)
        pomdp.append(point_of(bl.apply_calibration(cal, conf) < 0.5))
    families["automix-pomdp"] = pomdp
    chosen = point_of(bl.apply_calibration(bl.policy_calibration(method, automix.best_param), conf) < 0.5)
    out: dict = {"layout_of": point.name, "slm": {"accuracy": round(slm[0], 4), "cost_per_1k": round(slm[1], 4)},
                 "llm": {"accuracy": round(llm[0], 4), "cost_per_1k": round(llm[1], 4)}}
    for name, pts in families.items():
        cs, accs = zip(*pts, strict=True)
        out[name] = {"aiq_train": round(aiq(cs, accs, max_cost=llm[1], min_cost=slm[1]), 5), "settings": len(pts)}
    out["automix-pomdp"]["chosen_by_ibc"] = {"cost_per_1k": round(chosen[0], 4), "accuracy": round(chosen[1], 4),
                                             "ibc_lift": round(ibc_lift(chosen[1], chosen[0], slm, llm), 4)}
    out["deployed"] = "threshold"
    return out


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
    from .metrics import pareto_frontier

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
        mapping = {name: dict(zip(CONFIG_KEYS, configs[front[int(choice[c])]][2:8], strict=True))
                   for c, name in enumerate(names)}
        if len({json.dumps(v, sort_keys=True) for v in mapping.values()}) == 1:
            continue  # the same setting everywhere: already a uniform configuration
        out.append((total_cost, total_acc, *default[2:8], mapping))
    return out


def choose_dial(configs: list[tuple], best_single_cost: float, best_single_acc: float) -> list[OperatingPoint]:
    """Named operating points from the searched (cost, accuracy, ...) configurations on training data.

    - ``dial@<f>``: the most accurate configuration costing at most COST_MARGIN x f x the best single
      model's cost, for each budget fraction f (1/80 ... 1x);
    - ``dial:match-best``: the cheapest configuration at least 0.5 pt above the best single model;
    - ``dial:best``: the most accurate configuration.
    Accuracy is compared at 0.1-pt resolution, ties going to the cheaper configuration.
    """
    def make(name: str, cfg: tuple, fraction: float | None) -> OperatingPoint:
        cost, acc, mode, pair, n_models, cheap, last, own_last = cfg[:8]
        per_category = cfg[8] if len(cfg) > 8 else {}
        return OperatingPoint(name, mode, pair, n_models, cheap, last, own_last, acc, cost, fraction,
                              per_category)

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
    seen: set[tuple] = set()
    unique = []
    for p in points:  # the same configuration chosen for several budgets keeps its first name
        key = (p.order, p.pair_start, p.models, p.cheap, p.last, p.own_last, json.dumps(p.per_category,
                                                                                          sort_keys=True))
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def fraction_name(f: float) -> str:
    if f >= 1:
        return "1x"
    return f"1/{int(round(1 / f))}" if math.isclose(1 / f, round(1 / f)) else f"{f:.3f}"
