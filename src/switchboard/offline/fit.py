"""``switchboard train``: taxonomy, learned router, verifier, calibration and the cost-accuracy dial.

Everything here sees only the training prompts. Models stacked on each other are cross-fitted: the
learned router's out-of-fold predictions feed the verifier's training rows, the verifier's out-of-fold
scores feed the calibration and the dial search, so nothing is calibrated on predictions of a model that
saw the same labels. The final router and verifier are then refitted on all training prompts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from switchboard.domain.answer_features import AnswerFeatures
from switchboard.domain.axes import AxisClassifier, Suitability
from switchboard.domain.decision import Calibration
from switchboard.domain.dial import NEVER, ROUTED_ORDERS, Dial, OperatingPoint, RouteSignals, cascade_layout
from switchboard.offline.answer_signals import signals_of
from switchboard.offline.dial_profiles import estimate_points, profiles_by_estimate
from switchboard.offline.dial_search import (
    BUDGET_FRACTIONS,
    COST_MARGIN,
    FINAL_THRESHOLD,
    choose_dial,
    fraction_name,
    greedy_order,
    layouts,
    search_configs,
)
from switchboard.offline.meta_verifier import fit_meta_verifiers
from switchboard.offline.oof_scoring import OofScorer, isotonic
from switchboard.offline.outcomes import RecordedOutcomes
from switchboard.offline.recorded_cascades import ReplayPlan, Scored, Situation, plan_of
from switchboard.offline.routing_fit import MlpRouter, RouterEnsemble, Taxonomy, build_taxonomy, cross_fit
from switchboard.offline.taxonomy_axes import AxisHeads, fit_combine_weight, training_labels
from switchboard.offline.taxonomy_axes import cross_fit as cross_fit_axes
from switchboard.offline.verifier import LearnedVerifier, training_rows
from switchboard.offline.verifier_choice import DEFAULT_DIMS, choose

log = logging.getLogger(__name__)


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
    # which features of the answers themselves the verifier reads (``verifier_choice``): "auto" keeps them
    # only where they beat the agreement features on the training prompts' held-out folds
    answer_features: str = "auto"
    answer_dims: tuple[int, ...] = DEFAULT_DIMS


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
    points: list[OperatingPoint]
    profiles: dict[str, str]
    mean_cost: np.ndarray  # (k,) USD per call on training data
    train_accuracy: np.ndarray  # (k,)
    best_model: int
    stats: dict = field(default_factory=dict)
    # the verifier with the other choice of answer features (see ``verifier_choice``), fitted for reporting
    alternative_verifier: LearnedVerifier | None = None
    # the four-axis taxonomy and combined routing (``domain.axes``): the fast classifier's heads, the label
    # sets, suitability, the learned router's weight, and each training prompt's out-of-fold signals
    heads: AxisHeads | None = None
    axes: AxisClassifier | None = None
    suitability: Suitability | None = None
    combine_weight: float = 0.5
    signals: list[RouteSignals] | None = None
    # the ablation's dials: operating points and profiles chosen from each family of tier orders
    ablation: dict[str, tuple[list[OperatingPoint], dict[str, str]]] = field(default_factory=dict)

    def order_for(self, mode: str, category_idx: int) -> list[int]:
        if mode == "category":
            return self.category_orders.get(self.taxonomy.names[category_idx], self.global_order)
        return self.global_order

    def _probe(self) -> Dial:
        return self.dial([OperatingPoint(name="probe")])

    def layout(self, mode: str, n_models: int, pair_start: bool, category_idx: np.ndarray
               ) -> tuple[list[list[int]], list[list[list[int]]], np.ndarray]:
        tiers, judges = [], []
        probe = self._probe() if mode in ROUTED_ORDERS and self.signals is not None else None
        for i, c in enumerate(category_idx):
            if probe is not None and self.signals is not None:
                order = [self.models.index(m) for m in probe.order_for(mode, None, self.signals[i], n_models)]
            else:
                order = self.order_for(mode, int(c))
            t, j = cascade_layout(order, n_models, pair_start)
            tiers.append(t)
            judges.append(j)
        return tiers, judges, np.asarray([len(t) for t in tiers])

    def dial(self, points: Sequence[OperatingPoint] | None = None, verifier_sha256: str | None = None) -> Dial:
        """The deployable dial (model names): what ``dial.json`` holds and the planner lays cascades from."""
        names = self.models
        return Dial(models=list(names), global_order=[names[j] for j in self.global_order],
                    category_orders={c: [names[j] for j in o] for c, o in self.category_orders.items()},
                    points=list(points if points is not None else self.points), profiles=dict(self.profiles),
                    calibration=self.calibration, weights=dict(self.weights), final_threshold=FINAL_THRESHOLD,
                    verifier_sha256=verifier_sha256, best_single_model=names[self.best_model],
                    axes=self.axes, suitability=self.suitability, combine_weight=self.combine_weight,
                    model_cost=[round(float(c), 9) for c in self.mean_cost])

    def plan(self, point: OperatingPoint, category_idx: np.ndarray) -> ReplayPlan:
        """Each prompt's cascade under ``point``, laid out by the planner's own ``domain.dial.lay_out``."""
        return plan_of(self.dial([point]), point, [self.taxonomy.names[int(c)] for c in category_idx], self.models,
                       self.signals)


def _per_prompt(scored_layout: Callable[[str, bool, int, bool], tuple[Scored, np.ndarray]], correct: np.ndarray
                ) -> Callable[[tuple], tuple[np.ndarray, np.ndarray]]:
    """A uniform configuration's outcome per training prompt (correct 0/1/NaN, spend per 1k), out of fold."""
    from switchboard.offline.stop_rules import stop_rule, two_level_thresholds

    layouts_seen: dict[tuple, tuple[Scored, np.ndarray]] = {}

    def per_prompt(config: tuple) -> tuple[np.ndarray, np.ndarray]:
        mode, pair, n_models, cheap, last, own_last = config[2:8]
        key = (mode, pair, n_models, own_last)
        if key not in layouts_seen:
            layouts_seen[key] = scored_layout(mode, pair, n_models, own_last)
        scored, lens = layouts_seen[key]
        rows = np.arange(len(lens))
        stop, ret = stop_rule(scored.confidence, lens, two_level_thresholds(lens, int(lens.max()), cheap, last,
                                                                            FINAL_THRESHOLD))
        spend = (np.cumsum(scored.new_cost, axis=1) * 1000)[rows, stop]
        return correct[rows, scored.rep[rows, ret]], spend

    return per_prompt


# The ablation of combined routing (``eval``): dials chosen from the tier orders of each family only. The
# global order (no routing) is in every family.
ABLATION_FAMILIES = {"taxonomy": {"global", "category", "suitability"}, "learned": {"global", "learned"},
                     "combined": {"global", "category", "suitability", "learned", "combined"}}
def orders_of(config: tuple) -> set[str]:
    """The tier orders a searched configuration uses (its own, and its per-category settings')."""
    per_category = config[8] if len(config) > 8 and config[8] else {}
    return {config[2], *(c.order for c in per_category.values())}


def _with_safety_net(order: list[int], best: int, max_models: int) -> list[int]:
    """The order's first models, then the most accurate model last (the cascade's safety net)."""
    return [*[m for m in order if m != best][: max_models - 1], best]


def fit_system(data: RecordedOutcomes, embeddings: np.ndarray, prices: dict[str, dict[str, float]],
               config: TrainConfig | None = None, progress: bool = True,
               answer_vectors: np.ndarray | None = None) -> tuple[System, dict]:
    """Fit every Switchboard component on ``data`` (the training prompts). Returns the system and the
    training-side intermediate results (out-of-fold predictions) that the evaluator's baselines reuse.
    ``answer_vectors`` (n, k, D): the answers' embeddings (``answer_signals.embed_answers``), for a
    verifier that may read them; the answers' log-probabilities come with ``data`` where it records them."""
    config = config or TrainConfig()
    t0 = time.time()
    if not prices or any(m not in prices for m in data.models):
        from switchboard.offline.outcomes import infer_prices

        inferred = infer_prices(data)
        prices = {m: (prices or {}).get(m, inferred[m]) for m in data.models}
    correct = data.labels.correct
    n, k = data.n, data.k
    bar = _bar(range(7), "train", progress, total=7)
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
    def make_router() -> MlpRouter:
        return MlpRouter(hidden=256, alpha=0.1, seed=config.seed)

    router_oof, members = cross_fit(make_router, embeddings, correct, folds=config.router_folds, seed=config.seed)
    router = RouterEnsemble(members)

    tick("taxonomy axes")
    # 2b. the four-axis taxonomy: the fast classifier's heads and suitability, cross-fitted like the router
    axis_labels = training_labels(data)
    axis_probs, phi_oof, heads, suitability = cross_fit_axes(embeddings, axis_labels, correct, data.models,
                                                             folds=config.router_folds, seed=config.seed)
    axes = AxisClassifier(classes=heads.classes)

    tick("verifier")
    # 3. verifier: its answer features chosen and cross-fitted over prompt folds, then the final fit
    resp_len = np.vectorize(len, otypes=[float])(data.responses)
    answer_signals = signals_of(data, embeddings if answer_vectors is not None else None, answer_vectors)
    sit = Situation(data.answer_ids, data.cost, router_oof, resp_len, data.responses, list(data.models),
                    prompts=list(data.prompts), answer_signals=answer_signals)
    fold_of = np.random.default_rng(config.seed + 1).permutation(n) % config.verifier_folds
    training = training_rows(data.answer_ids, correct, router_oof, resp_len, per_prompt=config.subsets_per_prompt,
                             seed=config.seed)
    choice = choose(training, answer_signals, fold_of, config.verifier_folds, config.answer_features, config.answer_dims,
                    config.seed)

    def final_fit(features: AnswerFeatures) -> LearnedVerifier:
        block = sit.answer_block(features)
        X = training.X if block is None else training.with_answers(block)
        return LearnedVerifier(seed=config.seed, answer_features=features).fit(X, training.y)

    verifier = final_fit(choice.features)
    alternative = final_fit(choice.alternative) if choice.alternative is not None else None
    oof = OofScorer(sit, fold_of, choice.fold_verifiers)

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
    # combined routing: the learned router's weight against suitability, fitted out of fold
    combine_weight, weight_scores = fit_combine_weight(router_oof, phi_oof, correct, mean_cost, best_model)
    signals = [RouteSignals(router_p=[round(float(x), 6) for x in router_oof[i]],
                            phi=[round(float(x), 6) for x in phi_oof[i]],
                            labels=axes.labels({a: axis_probs[a][i] for a in axis_probs})) for i in range(n)]
    system = System(list(data.models), prices, taxonomy, router, verifier, Calibration(), {}, global_order,
                    category_orders, [], {}, mean_cost, train_acc, best_model, alternative_verifier=alternative,
                    heads=heads, axes=axes, suitability=suitability, combine_weight=combine_weight, signals=signals)
    probe = OperatingPoint(name="probe", order="global", pair_start=False, models=config.max_models,
                           cheap=NEVER, last=NEVER)
    raw = oof.score(system.plan(probe, tax_idx))
    rr, cc = np.nonzero(raw.rep >= 0)
    calibration = isotonic(raw.confidence[rr, cc], correct[rr, raw.rep[rr, cc]])
    weights = {"verifier": 1.0, **{f"agreement:{m}": 0.0 for m in data.models}}
    system.calibration, system.weights = calibration, weights

    tick("dial")
    # 6. the dial: orders x pair start x models x (cheap, last) thresholds, on out-of-fold scores
    modes = ["global"] + (["category"] if category_orders else []) + list(ROUTED_ORDERS)

    def scored_layout(mode: str, pair: bool, n_models: int, own_last: bool) -> tuple[Scored, np.ndarray]:
        tiers, judges, lens = system.layout(mode, n_models, pair, tax_idx)
        plan = ReplayPlan(tiers, judges, [[1.01] * len(t) for t in tiers], fuse=True, own_last=own_last)
        return oof.score(plan, weights, calibration), lens

    half = np.random.default_rng(config.seed + 2).permutation(n) % 2  # for the category-aware dial's CV
    configs, per_cat = search_configs(scored_layout, layouts(modes, config.max_models), correct, tax_idx, half,
                                      taxonomy.names, per_category=config.per_category_dial,
                                      progress=lambda it: _bar(it, "dial search", progress))
    best_cost = float(mean_cost[best_model]) * 1000
    dial, profiles = choose_dial(configs, best_cost, float(train_acc[best_model]))
    system.ablation = {family: choose_dial([c for c in configs if orders_of(c) <= allowed], best_cost,
                                           float(train_acc[best_model]))
                       for family, allowed in ABLATION_FAMILIES.items()}

    def score_point(point: OperatingPoint) -> tuple[Scored, np.ndarray]:
        plan = system.plan(point, tax_idx)
        return oof.score(plan, weights, calibration), np.asarray([len(t) for t in plan.tiers])

    # 7. AutoMix's POMDP meta-verifier where it beats the bar at a point's costly decision (per region)
    dial, meta_report = fit_meta_verifiers(dial, score_point, correct, [taxonomy.names[int(c)] for c in tax_idx],
                                           half, FINAL_THRESHOLD)
    # 8. the profiles, re-examined on 2-fold estimates of the rules that chose their points
    estimates = estimate_points(dial, configs, per_cat, half, _per_prompt(scored_layout, correct),
                                {**{f"dial@{fraction_name(f)}": COST_MARGIN * f * best_cost for f in BUDGET_FRACTIONS},
                                 "dial:best": None})
    profiles, profile_why = profiles_by_estimate(dial, profiles, estimates)
    dial = [p.model_copy(update={"cv_accuracy": round(estimates[p.name].accuracy, 5),
                                 "cv_cost_per_1k": round(estimates[p.name].cost_per_1k, 6)}) for p in dial]
    system.points, system.profiles = dial, profiles
    tick("done")
    if hasattr(bar, "close"):
        bar.close()
    system.stats = {"train_prompts": int(n), "train_seconds": round(time.time() - t0, 1),
                    "combined_routing": {"weight": combine_weight, "top1_accuracy_by_weight": weight_scores,
                                         "axes": {a: c for a, c in axes.classes.items()}},
                    "dial_configs_searched": len(configs), "verifier_rows": int(len(training.y)),
                    "verifier": {"answer_features": verifier.answer_features.groups(), **choice.report},
                    "meta_verifier": meta_report,
                    "profiles": {"chosen": profiles, "why": profile_why,
                                 "estimates": {p.name: {"cv_accuracy": p.cv_accuracy, "cv_cost_per_1k": p.cv_cost_per_1k,
                                                        "train_accuracy": p.train_accuracy,
                                                        "train_cost_per_1k": p.train_cost_per_1k} for p in dial}}}
    extras = {"router_oof": router_oof, "oof": oof, "tax_idx": tax_idx, "resp_len": resp_len, "configs": configs}
    return system, extras
