"""The profiles are chosen on 2-fold estimates with their standard errors: a dearer profile is never
expected to be less accurate than a cheaper one, and ``best`` is ``balanced`` unless reliably better."""

from __future__ import annotations

import numpy as np

from switchboard.domain.dial import Dial, OperatingPoint
from switchboard.offline.dial_profiles import Estimate, estimate_points, profiles_by_estimate


def _point(name: str, acc: float, cost: float) -> OperatingPoint:
    return OperatingPoint(name=name, models=2, train_accuracy=acc, train_cost_per_1k=cost)


def _estimate(rng: np.random.Generator, rate: float, cost: float, n: int = 400) -> Estimate:
    correct = (rng.random(n) < rate).astype(float)
    return Estimate(float(correct.mean()), cost, correct, n)


def test_best_is_balanced_unless_a_dearer_point_is_better_by_a_standard_error():
    rng = np.random.default_rng(0)
    points = [_point("cheap", 0.70, 1.0), _point("mid", 0.75, 2.0), _point("dear", 0.80, 8.0)]
    profiles = {"economy": "cheap", "balanced": "mid", "best": "dear"}
    base = (rng.random(400) < 0.75).astype(float)
    noisy = Estimate(float(base.mean()) + 0.004, 8.0, np.where(rng.random(400) < 0.02, 1 - base, base), 400)
    estimates = {"cheap": _estimate(rng, 0.70, 1.0), "mid": Estimate(float(base.mean()), 2.0, base, 400),
                 "dear": noisy}
    chosen, why = profiles_by_estimate(points, profiles, estimates)
    assert chosen["best"] == "mid" and why["best"]["candidate"] == "dear"  # a hair better is not better
    estimates["dear"] = Estimate(float(base.mean()) + 0.06, 8.0, np.where(rng.random(400) < 0.1, 1.0, base), 400)
    assert profiles_by_estimate(points, profiles, estimates)[0]["best"] == "dear"


def test_balanced_is_never_expected_less_accurate_than_economy():
    rng = np.random.default_rng(1)
    points = [_point("cheap", 0.70, 1.0), _point("mid", 0.75, 2.0)]
    estimates = {"cheap": _estimate(rng, 0.72, 1.0), "mid": _estimate(rng, 0.60, 2.0)}
    chosen, why = profiles_by_estimate(points, {"economy": "cheap", "balanced": "mid", "best": "mid"}, estimates)
    assert chosen["balanced"] == "cheap" and "balanced" in why


def test_a_budget_rule_is_chosen_on_one_half_and_scored_on_the_other():
    n = 200
    half = np.arange(n) % 2
    # two uniform configurations; on half 0 the first looks better, on half 1 the second
    configs = [(1.0, 0.7, "global", False, 2, 0.5, 0.5, False), (1.0, 0.7, "global", False, 2, 0.6, 0.6, False)]
    per_cat = np.zeros((2, 3, 2, 1))
    per_cat[0, :, 0, 0] = [80, 100, 100]  # config 0: 80% on half 0
    per_cat[0, :, 1, 0] = [50, 100, 100]
    per_cat[1, :, 0, 0] = [60, 100, 100]
    per_cat[1, :, 1, 0] = [90, 100, 100]  # config 1: 90% on half 1
    outcome = {0: np.where(half == 0, 1.0, 0.0), 1: np.where(half == 1, 1.0, 0.0)}

    def per_prompt(config: tuple) -> tuple[np.ndarray, np.ndarray]:
        return outcome[configs.index(config)], np.ones(n)

    [estimate] = estimate_points([_point("dial@1x", 0.9, 1.0)], configs, per_cat, half, per_prompt,
                                 {"dial@1x": None}).values()
    # chosen on half 0 (config 0) and scored on half 1, where it is wrong; and the other way round
    assert estimate.accuracy == 0.0 and estimate.correct is not None


def test_a_request_for_a_quality_is_matched_against_the_cross_validated_estimate():
    points = [_point("a", 0.9, 1.0).model_copy(update={"cv_accuracy": 0.7, "cv_cost_per_1k": 1.0}),
              _point("b", 0.85, 2.0).model_copy(update={"cv_accuracy": 0.82, "cv_cost_per_1k": 2.0})]
    dial = Dial(models=["m"], global_order=["m"], points=points)
    assert dial.select(quality=0.8).name == "b"
