"""AutoMix's meta-verifier, fitted and deployed where it beats a bar.

A dial point's costly decision is the one before its safety net: accept the fused answer of the cheaper
tiers, or pay for the strongest model. The dial's search makes it with a bar on the calibrated confidence
(the *threshold* meta-verifier, AutoMix's ``Threshold``). AutoMix also proposes a POMDP meta-verifier
(``automix-llm``'s ``POMDP``: a policy over binned verifier confidences, trained to maximise incremental
benefit per cost). Here, on the out-of-fold training scores of every point's layout and per region of
prompts (each taxonomy category with enough prompts, the rest pooled as ``"*"``):

1. both families are fitted on one half of the training prompts and compared on the other (validation)
   half by their AIQ - the area under each family's cost-accuracy curve, over the range from the cheaper
   tiers' cost to the safety net's;
2. where the POMDP wins, the point deploys the POMDP setting most accurate on the fit half at no more
   cost than the point's own bar (``OperatingPoint.meta``: its accept/escalate step function of the
   confidence, which the planner lays onto the decision and ``decision.decide`` applies);
3. the point's training accuracy and cost are measured again with what it deploys.

The decision is the request path's: ``ReplayPlan.gate`` / ``stop_rule`` here, ``TierSpec.meta`` in
``decide`` there, and ``run_cascade`` (the engine) for every reported figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from switchboard.domain.dial import OperatingPoint
from switchboard.domain.judging import Calibration

MIN_META_PROMPTS = 150  # a category is a region of its own with this many training prompts at the decision
SAME_COST_MARGIN = 1.02


def _outcome(scored: Any, lens: np.ndarray, correct: np.ndarray, thresholds: np.ndarray,
             gate: np.ndarray | None, rows: np.ndarray) -> tuple[float, float]:
    """(cost per 1k, accuracy) of the cascade on ``rows`` (the request path's rule, vectorised)."""
    from switchboard.offline.stop_rules import stop_rule

    stop, ret = stop_rule(scored.confidence[rows], lens[rows], thresholds[rows], None if gate is None else gate[rows])
    cum = np.cumsum(scored.new_cost[rows], axis=1) * 1000
    idx = np.arange(len(rows))
    ok = correct[rows][idx, scored.rep[rows][idx, ret]]
    return float(cum[idx, stop].mean()), float(np.nanmean(ok))


def _gate_at(confidence: np.ndarray, lens: np.ndarray, meta: Calibration, rows: np.ndarray) -> np.ndarray:
    """The gate matrix of a meta-verifier at the decision before each prompt's safety net, on ``rows``."""
    gate = np.full(confidence.shape, np.nan)
    before = lens - 2
    for i in rows:
        if before[i] >= 0 and not np.isnan(confidence[i, before[i]]):
            gate[i, before[i]] = meta.apply(float(confidence[i, before[i]]))
    return gate


def fit_meta_verifiers(points: Sequence[OperatingPoint], score_point: Any, correct: np.ndarray,
                       categories: Sequence[str], half: np.ndarray, final_threshold: float
                       ) -> tuple[list[OperatingPoint], dict[str, Any]]:
    """The dial's points with a POMDP meta-verifier deployed where it beats the bar (see the module), and
    what was measured. ``score_point(point) -> (Scored, lens)`` scores a point's layout out of fold;
    ``categories[i]`` is prompt i's taxonomy category; ``half`` splits the prompts in two (0: fit, 1:
    validation)."""
    from switchboard.offline.baselines import automix_frugal as bl
    from switchboard.offline.dial_search import THRESHOLDS
    from switchboard.offline.evaluation.metrics import aiq
    from switchboard.offline.stop_rules import two_level_thresholds

    labels = np.asarray(categories, dtype=object)
    out_points: list[OperatingPoint] = []
    report: dict[str, Any] = {"regions": {}, "deployed": {}}
    measured: dict[str, list[tuple[float, int]]] = {"threshold": [], "pomdp": []}
    for point in points:
        if point.models < 2 or point.per_category:
            out_points.append(point)
            continue
        scored, lens = score_point(point)
        depth = int(lens.max())
        thresholds = two_level_thresholds(lens, depth, point.cheap, point.last, final_threshold)
        deciding = lens >= 2
        counts = {c: int(((labels == c) & deciding).sum()) for c in set(labels)}
        regions = {c: c for c, n in counts.items() if n >= MIN_META_PROMPTS}
        meta: dict[str, Calibration | None] = {}
        chosen: dict[str, str] = {}
        for region in [*sorted(regions), "*"]:
            listed = np.isin(labels, list(regions))
            in_region = ~listed if region == "*" else labels == region
            fit_rows = np.nonzero(in_region & deciding & (half == 0))[0]
            val_rows = np.nonzero(in_region & deciding & (half == 1))[0]
            if len(fit_rows) < 20 or len(val_rows) < 20:
                continue
            rows_all = np.arange(len(lens))
            before, after = np.maximum(lens - 2, 0), lens - 1
            conf = np.nan_to_num(scored.confidence[rows_all, before], nan=0.0)
            slm_ok = correct[rows_all, scored.rep[rows_all, before]]
            llm_ok = correct[rows_all, scored.rep[rows_all, after]]
            cum = np.cumsum(scored.new_cost, axis=1) * 1000
            slm_cost, llm_cost = cum[rows_all, before], cum[rows_all, after]
            costs = (float(slm_cost[fit_rows].mean()), float(llm_cost[fit_rows].mean()))
            automix, method, params = bl.train_automix("pomdp", bl.automix_frame(conf[fit_rows], slm_ok[fit_rows],
                                                                                 llm_ok[fit_rows]), costs)
            gates = [bl.policy_calibration(method, param) for param in params]
            thr_curve = [_outcome(scored, lens, correct, two_level_thresholds(lens, depth, point.cheap, last,
                                                                              final_threshold), None, val_rows)
                         for last in THRESHOLDS]
            pomdp_curve = [_outcome(scored, lens, correct, thresholds, _gate_at(scored.confidence, lens, g, val_rows),
                                    val_rows) for g in gates]
            lo, hi = float(slm_cost[val_rows].mean()), float(llm_cost[val_rows].mean())
            aiqs = {name: aiq([c for c, _ in curve], [a for _, a in curve], max_cost=hi, min_cost=lo)
                    for name, curve in (("threshold", thr_curve), ("pomdp", pomdp_curve))}
            family = "pomdp" if aiqs["pomdp"] > aiqs["threshold"] else "threshold"
            if family == "pomdp":  # the POMDP setting for this point's budget: most accurate at its cost
                own = _outcome(scored, lens, correct, thresholds, None, fit_rows)
                fits = [(g, _outcome(scored, lens, correct, thresholds, _gate_at(scored.confidence, lens, g, fit_rows),
                                     fit_rows)) for g in gates]
                affordable = [(g, o) for g, o in fits if o[0] <= own[0] * SAME_COST_MARGIN]
                if affordable and max(o[1] for _, o in affordable) > own[1]:
                    meta[region] = max(affordable, key=lambda f: (f[1][1], -f[1][0]))[0]
                else:
                    family = "threshold"  # no POMDP setting beats the bar within the point's budget
            chosen[region] = family
            if family == "threshold" and region != "*":
                meta[region] = None  # its own bar, whatever the other prompts deploy
            for name in ("threshold", "pomdp"):
                measured[name].append((aiqs[name], len(val_rows)))
            report["regions"][f"{point.name}/{region}"] = {
                "validation_prompts": int(len(val_rows)), "aiq_validation": {k: round(v, 5) for k, v in aiqs.items()},
                "deployed": chosen[region]}
        report["deployed"][point.name] = chosen
        if any(m is not None for m in meta.values()):
            plan_gate = _gate_for_point(scored.confidence, lens, labels, meta)
            cost, acc = _outcome(scored, lens, correct, thresholds, plan_gate, np.arange(len(lens)))
            point = point.model_copy(update={"meta": meta, "train_accuracy": acc, "train_cost_per_1k": cost})
        out_points.append(point)
    report["measured"] = {name: {"aiq_validation": round(sum(a * n for a, n in vals) / sum(n for _, n in vals), 5)
                                 if vals else None, "regions": len(vals)} for name, vals in measured.items()}
    return out_points, report


def _gate_for_point(confidence: np.ndarray, lens: np.ndarray, categories: np.ndarray,
                    meta: dict[str, Calibration | None]) -> np.ndarray:
    gate = np.full(confidence.shape, np.nan)
    for i in range(len(lens)):
        category = str(categories[i])
        chosen = meta[category] if category in meta else meta.get("*")
        before = lens[i] - 2
        if chosen is not None and before >= 0 and not np.isnan(confidence[i, before]):
            gate[i, before] = chosen.apply(float(confidence[i, before]))
    return gate
