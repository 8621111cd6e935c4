"""``switchboard eval``: train on one set of prompts, replay every strategy on another, report.

Strategies (``kind``): every single model (``single``); the oracle (cheapest correct model per prompt,
``oracle``); random and the baselines (``baseline``): RouterBench kNN, RouteLLM matrix factorisation and
BERT-style routers, AutoMix threshold and POMDP cascades, FrugalGPT cascades, Avengers-Pro style cluster
routing and Dekoninck et al.'s cascade routing; and Switchboard's operating points (``switchboard``):
taxonomy only, learned only, combined (single call each, one point per willingness-to-pay), and the dial
of fusing cascades, scored with the artifacts a deployment loads. Switchboard's, AutoMix's and
FrugalGPT's cascades run through ``decision.decide``. Labels are read only to score the returned answer.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from switchboard.offline.answer_signals import signals_of
from switchboard.offline.artifacts import load_artifacts, write_artifacts
from switchboard.offline.baselines import automix_frugal as bl
from switchboard.offline.baselines.cascade_routing import LAMBDAS as CASCADE_LAMBDAS
from switchboard.offline.baselines.cascade_routing import CascadeRouting
from switchboard.offline.baselines.cluster_routing import ClusterRouter
from switchboard.offline.baselines.cluster_routing import sweep as cluster_sweep
from switchboard.offline.baselines.prompt_routers import BertStyleRouter, KnnRouter, MatrixFactorizationRouter
from switchboard.offline.dial_search import BUDGET_FRACTIONS, COST_MARGIN, fraction_name, point_params
from switchboard.offline.evaluation.deployed import deployed_outcomes
from switchboard.offline.evaluation.metrics import aiq, aiq_gap_interval, pareto_frontier
from switchboard.offline.evaluation.results import assemble
from switchboard.offline.evaluation.verifier_report import verifier_block
from switchboard.offline.fit import System, TrainConfig, fit_system
from switchboard.offline.outcomes import RecordedOutcomes
from switchboard.offline.recorded_cascades import ReplayPlan, Situation, recalibrate, run_cascade, score_plan
from switchboard.offline.routing_fit import choose_by_utility

# Willingness to pay, as a share of the best single model's cost: utility = P(correct) - kappa * cost / C_best.
KAPPAS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 3.0)
ROUTELLM_RATES = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
AUTOMIX_SWEEP = 12


@dataclass
class Row:
    name: str
    kind: str
    family: str
    rep: np.ndarray
    cost: np.ndarray
    tiers_used: np.ndarray | None = None
    params: dict | None = None
    first_model: int | None = None


def _bar(iterable, desc: str, progress: bool, total: int | None = None):  # noqa: ANN001, ANN202
    if not progress:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, unit="step", leave=False)


def singleton_plan(n: int, models: Sequence[int], thresholds: Sequence[float]) -> ReplayPlan:
    """A non-fusing cascade over ``models`` (each tier judged on its own answer only)."""
    return ReplayPlan.uniform(n, list(models), list(thresholds), fuse=False)


def evaluate(train: RecordedOutcomes, test: RecordedOutcomes, e_train: np.ndarray, e_test: np.ndarray,
             prices: dict[str, dict[str, float]], dataset: str, config: TrainConfig | None = None,
             seed: int = 0, progress: bool = True, artifacts_dir: str | Path | None = None,
             a_train: np.ndarray | None = None, a_test: np.ndarray | None = None) -> tuple[dict, System]:
    """Train on ``train``, replay every strategy on ``test``; returns (results dict, trained system).

    Switchboard's cascades are scored through the artifacts ``switchboard train`` would write (kept in
    ``artifacts_dir`` when given), loaded with the request path's own classes. ``a_train``/``a_test``: the
    answers' embeddings (``answer_signals.embed_answers``), for a verifier that may read them."""
    if train.models != test.models:
        raise ValueError(f"train and test must have the same models: {train.models} vs {test.models}")
    t0 = time.time()
    system, extras = fit_system(train, e_train, prices, config, progress=progress, answer_vectors=a_train)
    k, n = test.k, test.n
    rows_out: list[Row] = []
    correct_tr = train.labels.correct
    mean_cost = system.mean_cost  # USD per call, training data
    best = system.best_model
    c_best = float(mean_cost[best]) * 1000
    resp_len = np.vectorize(len, otypes=[float])(test.responses)
    router_p = system.router.predict(e_test)
    tax_idx, _ = system.taxonomy.assign(e_test)
    answer_signals = signals_of(test, e_test if a_test is not None else None, a_test)
    sit = Situation(test.answer_ids, test.cost, router_p, resp_len, test.responses, list(test.models),
                    prompts=list(test.prompts), answer_signals=answer_signals)
    steps = _bar(range(8), f"eval {dataset}", progress, total=8)
    tick = iter(steps)
    next(tick, None)

    # ---- single models, oracle, random
    for j, m in enumerate(test.models):
        rows_out.append(Row(m, "single", "single", np.full(n, j), test.cost[:, j].copy(), params={"model": m}))
    rows_out.append(_oracle(test))
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, k, size=n)
    rows_out.append(Row("random", "baseline", "random", pick, test.cost[np.arange(n), pick],
                        params={"rule": "uniform random model per prompt", "seed": seed}))
    next(tick, None)

    # ---- single-call routers (utility = P - kappa * cost / C_best), Switchboard's and the baselines'
    tax_p = system.taxonomy.predict(e_test)
    tax_cost = system.taxonomy.expected_cost(e_test) * 1000
    learned_p = router_p
    routers = {
        "sb-taxonomy": ("switchboard", tax_p, tax_cost, "taxonomy: nearest centroid -> category accuracy"),
        "sb-learned": ("switchboard", learned_p, mean_cost * 1000, "learned router (MLP on embedding)"),
        "sb-combined": ("switchboard", (tax_p + learned_p) / 2, tax_cost,
                        "mean of taxonomy and learned router probabilities"),
    }
    knn = KnnRouter(k=40).fit(e_train, correct_tr)
    routers["knn"] = ("baseline", knn.predict(e_test), mean_cost * 1000, "RouterBench kNN (k=40, cosine)")
    for name, (kind, probs, costs, rule) in routers.items():
        for kappa in KAPPAS:
            choice = choose_by_utility(probs, costs, kappa / c_best)
            rows_out.append(Row(f"{name}(κ={kappa:g})", kind, name, choice, test.cost[np.arange(n), choice],
                                params={"rule": rule, "kappa": kappa, "utility": "P - kappa * cost / C_best"}))
    next(tick, None)

    # ---- RouteLLM: strong = best single model, weak = AutoMix's small model; threshold on the predicted
    #      advantage, at the quantiles of the training prompts that send given shares to the strong model
    slm = _small_model(system)
    for name, maker in (("routellm-mf", lambda: MatrixFactorizationRouter(seed=seed)),
                        ("routellm-bert", lambda: BertStyleRouter(C=0.1))):
        router = maker().fit(e_train, correct_tr)
        p_tr, p_te = router.predict(e_train), router.predict(e_test)
        adv_tr = p_tr[:, best] - p_tr[:, slm]
        adv_te = p_te[:, best] - p_te[:, slm]
        for rate, alpha in zip(ROUTELLM_RATES, bl.quantile_thresholds(adv_tr, ROUTELLM_RATES), strict=True):
            strong = bl.binary_route(adv_te, alpha)
            choice = np.where(strong, best, slm)
            rows_out.append(Row(f"{name}(strong≈{rate:.0%})", "baseline", name, choice,
                                test.cost[np.arange(n), choice],
                                params={"strong": test.models[best], "weak": test.models[slm],
                                        "alpha": alpha, "train_strong_rate": rate}))
    next(tick, None)

    # ---- single-answer verifier scores (AutoMix / FrugalGPT), out-of-fold on the training prompts
    oof = extras["oof"]
    all_models = list(range(k))
    tr_scored = oof.score(singleton_plan(train.n, all_models, [1.01] * k))
    s_train = tr_scored.score  # (n_train, k): verifier on each model's answer alone

    # AutoMix: SLM -> LLM through decide, meta-verifier from the automix-llm package
    costs_1k = (float(mean_cost[slm]) * 1000, float(mean_cost[best]) * 1000)
    frame = bl.automix_frame(s_train[:, slm], correct_tr[:, slm], correct_tr[:, best])
    te_plan = singleton_plan(n, [slm, best], [0.5, 1.01])
    te_raw = score_plan(sit, te_plan, system.verifier)
    for kind in ("threshold", "pomdp"):
        automix, method, params = bl.train_automix(kind, frame, costs_1k)
        chosen = automix.best_param
        others = [p for p in params if str(p) != str(chosen)]
        if len(others) > AUTOMIX_SWEEP:  # an even sample of the package's candidate settings
            others = [others[i] for i in np.linspace(0, len(others) - 1, AUTOMIX_SWEEP).round().astype(int)]
        settings = [(chosen, True)] + [(p, False) for p in others]
        for q, (param, trained) in enumerate(settings):
            cal = bl.policy_calibration(method, param)
            out = run_cascade(sit, te_plan, recalibrate(te_raw, None, cal))
            label = "trained" if trained else f"#{q}"
            rows_out.append(Row(f"automix-{kind}({label})", "baseline", f"automix-{kind}", out.rep, out.cost,
                                out.tiers_used, params={"slm": test.models[slm], "llm": test.models[best],
                                                        "meta_verifier": str(param)[:200],
                                                        "selected_by": "Automix.train (IBC lift) on training"
                                                        if trained else "sweep"},
                                first_model=slm))
    next(tick, None)

    # FrugalGPT: list + thresholds searched on training data, one configuration per budget
    candidates = _frugal_candidates(train.accuracy(), mean_cost)
    frugal = bl.search_frugal(s_train, correct_tr, train.cost, candidates)
    chosen_cfgs: list[tuple[bl.FrugalConfig, float]] = []
    for f in BUDGET_FRACTIONS:
        within = [c for c in frugal if c.train_cost_per_1k <= COST_MARGIN * f * c_best]
        if within:
            cfg = max(within, key=lambda c: (round(c.train_accuracy, 3), -c.train_cost_per_1k))
            if all(cfg is not c for c, _ in chosen_cfgs):
                chosen_cfgs.append((cfg, f))
    for cfg, f in chosen_cfgs:
        plan = singleton_plan(n, cfg.models, cfg.thresholds)
        scored = score_plan(sit, plan, system.verifier)
        out = run_cascade(sit, plan, scored)
        rows_out.append(Row(f"frugalgpt@{fraction_name(f)}", "baseline", "frugalgpt", out.rep, out.cost,
                            out.tiers_used, params={"models": [test.models[j] for j in cfg.models],
                                                    "thresholds": cfg.thresholds, "budget_fraction": f,
                                                    "train_accuracy": round(cfg.train_accuracy, 4),
                                                    "train_cost_per_1k_usd": round(cfg.train_cost_per_1k, 5)},
                            first_model=cfg.models[0]))
    next(tick, None)

    # ---- Avengers-Pro style cluster routing (alpha sweep) and Dekoninck et al.'s cascade routing (lambda
    #      sweep), on the same embeddings, router estimates, answers and costs
    clusters = ClusterRouter(seed=seed).fit(e_train, correct_tr, train.cost)
    for alpha, choice in cluster_sweep(clusters, e_test):
        rows_out.append(Row(f"avengers-pro(α={alpha:g})", "baseline", "avengers-pro", choice,
                            test.cost[np.arange(n), choice],
                            params={"alpha": alpha, "clusters": 0 if clusters.centroids is None else len(clusters.centroids),
                                    "rule": "k-means cluster -> alpha*performance + (1-alpha)*(1-cost), min-max "
                                            "normalised per cluster"}))
    routing = CascadeRouting(seed=seed).fit(train.answer_ids, extras["router_oof"], correct_tr, train.cost)
    cost_order = [int(j) for j in np.asarray(routing.order)]
    for lam in CASCADE_LAMBDAS:
        out_cr = routing.run(test.answer_ids, router_p, test.cost, lam)
        rows_out.append(Row(f"cascade-routing(λ={lam:g})", "baseline", "cascade-routing", out_cr.rep, out_cr.cost,
                            out_cr.tiers_used, params={"lambda_per_usd_per_1k": lam, "max_depth": routing.max_depth,
                                                       "order": [test.models[j] for j in cost_order]},
                            first_model=cost_order[0]))
    next(tick, None)

    # ---- Switchboard's dial: fusing cascades through decide, scored with the artifacts a deployment runs
    #      (the ONNX router and verifier, the published taxonomy and dial), written and loaded back here
    with contextlib.ExitStack() as stack:
        out_dir = Path(artifacts_dir) if artifacts_dir is not None else Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="switchboard-artifacts-")))
        art = load_artifacts(write_artifacts(system, out_dir, dataset))
        ablation_runs = {family: deployed_outcomes(replace(art, dial=art.dial.model_copy(
            update={"points": points, "profiles": profiles})), test, e_test, a_test)
            for family, (points, profiles) in system.ablation.items()}
        for name, out in deployed_outcomes(art, test, e_test, a_test).items():
            point = art.dial.point(name)
            profiles = sorted(p for p, name in art.dial.profiles.items() if name == point.name)
            rows_out.append(Row(f"sb-cascade {point.name}", "switchboard", "sb-cascade", out.rep, out.cost,
                                out.tiers_used, params={**point_params(point), "profiles": profiles},
                                first_model=system.global_order[0]))
    next(tick, None)

    results = assemble(test, rows_out, dataset, best_train=best, slm=slm)
    results["train"] = {"prompts": train.n, **system.stats,
                        "best_single_model": train.models[best], "small_model": train.models[slm]}
    results["meta_verifier"] = system.stats.get("meta_verifier")
    results["verifier"] = verifier_block(system.verifier, system.alternative_verifier, test, router_p, answer_signals,
                                         system.stats.get("verifier"))
    results["taxonomy_axes"] = ["task", "complexity", "domain", "format"]
    results["combined_routing"] = system.stats.get("combined_routing")
    results["ablation"] = ablation(test, ablation_runs, results["aiq_range_usd_per_1k"][1])
    results["seconds"] = round(time.time() - t0, 1)
    if hasattr(steps, "close"):
        steps.close()
    return results, system


def ablation(test: RecordedOutcomes, runs: dict[str, dict], max_cost: float) -> dict:
    """EMAFusion's ablation: the dials chosen from each family of tier orders (``fit.ABLATION_FAMILIES``:
    taxonomy only, learned router only, combined), replayed with the deployed artifacts on these prompts;
    AIQ over the same cost range as every strategy's. Their points carry no meta-verifier (the deployed
    dial's ``sb-cascade`` rows do), so the three differ only in where the tier orders come from.
    ``combined_minus_best_alone``: combined's AIQ less the better of the other two, with a paired bootstrap
    95 % interval over the prompts (``metrics.aiq_gap_interval``)."""
    correct = test.labels.correct
    rows = np.arange(test.n)
    out: dict = {}
    for family, outcomes in runs.items():
        points = [{"point": name, "accuracy": round(float(np.nanmean(correct[rows, o.rep])), 4),
                   "cost_per_1k_usd": round(float(o.cost.mean() * 1000), 5)} for name, o in outcomes.items()]
        out[family] = {"aiq": round(aiq([p["cost_per_1k_usd"] for p in points], [p["accuracy"] for p in points],
                                        max_cost), 5), "points": points}
    if {"taxonomy", "learned", "combined"} <= set(out):
        best_alone = max(float(out["taxonomy"]["aiq"]), float(out["learned"]["aiq"]))
        out["combined_at_least_both"] = float(out["combined"]["aiq"]) >= best_alone
        # is a gap of a few tenths of a point more than these prompts can tell apart?
        arrays = {family: (np.stack([correct[rows, o.rep] for o in outcomes.values()]),
                           np.stack([np.asarray(o.cost, dtype=float) for o in outcomes.values()]))
                  for family, outcomes in runs.items()}
        out["combined_minus_best_alone"] = aiq_gap_interval(arrays, max_cost, "combined", ["taxonomy", "learned"])
    return out


def _oracle(test: RecordedOutcomes) -> Row:
    """Cheapest model that answered correctly; when none did, the cheapest model (its answer is wrong)."""
    c = test.labels.correct
    cost = np.where(c == 1.0, test.cost, np.inf)
    has = np.isfinite(cost).any(axis=1)
    choice = np.where(has, np.argmin(cost, axis=1), np.argmin(test.cost, axis=1))
    return Row("oracle", "oracle", "oracle", choice, test.cost[np.arange(test.n), choice],
               params={"rule": "cheapest correct model per prompt (reads labels: an upper bound)"})


def _small_model(system: System) -> int:
    """AutoMix / RouteLLM weak model: the most accurate model costing at most 1/10 of the best one."""
    cheap = [j for j in range(len(system.models)) if j != system.best_model
             and system.mean_cost[j] <= system.mean_cost[system.best_model] / 10]
    if not cheap:
        cheap = [int(np.argmin(system.mean_cost))]
    return max(cheap, key=lambda j: (system.train_accuracy[j], -system.mean_cost[j]))


def _frugal_candidates(acc: np.ndarray, cost: np.ndarray, limit: int = 7) -> list[int]:
    """Models on or near the single-model frontier (FrugalGPT searches over the provider list)."""
    front = pareto_frontier(cost, acc)
    rest = sorted((j for j in range(len(acc)) if j not in front), key=lambda j: -acc[j] / max(cost[j], 1e-12))
    return sorted([*front, *rest][:limit])
