"""A trained dial replayed as a deployment runs it: the ONNX learned router and verifier, the published
taxonomy's nearest category, the planner's layout, and the request path's engine (``recorded_cascades``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from switchboard.domain.dial import Dial, OperatingPoint, RouteSignals, route_signals
from switchboard.domain.taxonomy import CentroidIndex
from switchboard.offline.answer_signals import signals_of
from switchboard.offline.artifacts import Artifacts
from switchboard.offline.outcomes import RecordedOutcomes
from switchboard.offline.recorded_cascades import (
    Outcome,
    ReplayPlan,
    Situation,
    plan_of,
    run_cascade,
    score_plan,
)


def deployed_situation(art: Artifacts, test: RecordedOutcomes, e_test: np.ndarray, a_test: np.ndarray | None = None
                       ) -> tuple[Situation, list[str], list[RouteSignals] | None]:
    """Decision-time inputs of the test prompts as a deployment sees them: the learned router's ONNX
    probabilities, each prompt's nearest category in the published taxonomy (``CentroidIndex``, as the
    router matches), its routing signals (``route_signals``: the axis heads' labels read into the dial's
    suitability, beside the router's probabilities), and the answers' own signals (``a_test``: their
    embeddings, needed when the deployed verifier reads them)."""
    if art.verifier.answer_features.embedding is not None and a_test is None:
        raise ValueError("the deployed verifier reads answer embeddings: embed the test answers "
                         "(answer_signals.embed_answers)")
    index = CentroidIndex(art.taxonomy)
    categories = [index.nearest(e).category for e in np.asarray(e_test, dtype=np.float32)]
    router_p = art.router.predict_batch(e_test)
    resp_len = np.vectorize(len, otypes=[float])(test.responses)
    answer_signals = signals_of(test, e_test if a_test is not None else None, a_test)
    signals = None
    if art.axes is not None and art.dial.axes is not None:
        probs = art.axes.predict_batch(e_test)
        signals = [route_signals(art.dial, router_p[i], {a: p[i] for a, p in probs.items()})
                   for i in range(len(e_test))]
    sit = Situation(test.answer_ids, test.cost, router_p, resp_len, test.responses, list(test.models),
                    prompts=list(test.prompts), answer_signals=answer_signals)
    return sit, categories, signals


def deployed_plan(dial: Dial, point: OperatingPoint, categories: Sequence[str], models: Sequence[str],
                  signals: Sequence[RouteSignals] | None = None) -> ReplayPlan:
    """Each prompt's cascade under ``point``, laid out by the planner's ``domain.dial.lay_out``."""
    return plan_of(dial, point, categories, models, signals)


def deployed_outcomes(art: Artifacts, test: RecordedOutcomes, e_test: np.ndarray,
                      a_test: np.ndarray | None = None) -> dict[str, Outcome]:
    """Every point of the trained dial (by name) replayed on ``test`` with the deployed artifacts."""
    if list(test.models) != list(art.dial.models):
        raise ValueError(f"the dial was trained on {art.dial.models}, the data has {test.models}")
    sit, categories, signals = deployed_situation(art, test, e_test, a_test)
    outcomes = {}
    for point in art.dial.points:
        plan = deployed_plan(art.dial, point, categories, test.models, signals)
        scored = score_plan(sit, plan, art.verifier, art.dial.weights, art.dial.calibration)
        outcomes[point.name] = run_cascade(sit, plan, scored)
    return outcomes


def held_out_points(art: Artifacts, test: RecordedOutcomes, e_test: np.ndarray,
                    a_test: np.ndarray | None = None) -> dict:
    """Every dial point and every model alone on ``test`` (prompts training did not see), replayed with
    the deployed artifacts: accuracy, mean cost and - when the data records each call's latency
    (``switchboard collect`` does) - mean latency with the calls of a prompt made one after another.

    Latency is replayed by the same cascade with each call's seconds in place of its dollars (decisions
    do not read cost without a budget), so a point's latency is what its own calls took when collected.
    """
    from dataclasses import replace

    by_cost = deployed_outcomes(art, test, e_test, a_test)
    by_time = (deployed_outcomes(art, replace(test, cost=test.latency_s), e_test, a_test)
               if test.latency_s is not None else None)
    correct = test.labels.correct
    rows = np.arange(test.n)

    def figures(rep: np.ndarray, cost: np.ndarray, seconds: np.ndarray | None) -> dict:
        return {"accuracy": round(float(np.nanmean(correct[rows, rep])), 4),
                "cost_per_1k": round(float(cost.mean() * 1000), 6),
                "mean_latency_s": None if seconds is None else round(float(seconds.mean()), 3)}

    singles = [{"model": m, **figures(np.full(test.n, j), test.cost[:, j],
                                      None if test.latency_s is None else test.latency_s[:, j])}
               for j, m in enumerate(test.models)]
    points = []
    for point in art.dial.points:
        out = by_cost[point.name]
        seconds = by_time[point.name].cost if by_time is not None else None
        profiles = sorted(p for p, name in art.dial.profiles.items() if name == point.name)
        points.append({"point": point.name, "profiles": profiles, **figures(out.rep, out.cost, seconds),
                       "training_estimate": {"cv_accuracy": point.cv_accuracy, "cv_cost_per_1k": point.cv_cost_per_1k,
                                             "train_accuracy": point.train_accuracy,
                                             "train_cost_per_1k": point.train_cost_per_1k}})
    strongest = max(singles, key=lambda s: (s["accuracy"], -s["cost_per_1k"]))
    beats = [p["point"] for p in points if p["accuracy"] >= strongest["accuracy"]
             and (p["mean_latency_s"] if p["mean_latency_s"] is not None else p["cost_per_1k"])
             < (strongest["mean_latency_s"] if strongest["mean_latency_s"] is not None else strongest["cost_per_1k"])]
    return {"prompts": int(test.n), "single_models": singles, "points": points,
            "strongest_alone": strongest["model"],
            "points_as_accurate_and_faster": beats if test.latency_s is not None else None,
            "points_as_accurate_and_cheaper": [p["point"] for p in points if p["accuracy"] >= strongest["accuracy"]
                                               and p["cost_per_1k"] < strongest["cost_per_1k"]]}
