import math

import numpy as np

from switchboard.offline.evaluation.metrics import (
    accuracy,
    aiq,
    cost_per_1k,
    escalation_rate,
    ibc,
    ibc_lift,
    pareto_frontier,
    upper_hull,
)


def test_accuracy_skips_ungraded_and_cost_scales():
    assert accuracy(np.array([1.0, 0.0, np.nan, 1.0])) == 2 / 3
    assert cost_per_1k(np.array([0.001, 0.003])) == 2.0
    assert escalation_rate(np.array([1, 2, 3, 1])) == 0.5


def test_frontier_and_hull():
    costs, accs = [1, 2, 3, 4], [0.5, 0.4, 0.8, 0.8]
    assert pareto_frontier(costs, accs) == [0, 2]
    hull = upper_hull([0, 1, 2], [0.0, 0.2, 1.0])  # (1, 0.2) lies under the chord from 0 to 2
    assert hull.tolist() == [[0.0, 0.0], [2.0, 1.0]]


def test_aiq_matches_hand_computed_area():
    # one point at cost 1 with accuracy 0.5, range [0, 2]: zero left of it, flat right: area 0.5 / 2
    assert math.isclose(aiq([1.0], [0.5], max_cost=2.0), 0.25, rel_tol=1e-3)
    # a dominating family has the larger AIQ
    assert aiq([0.5, 2.0], [0.6, 0.9], 2.0) > aiq([1.0, 2.0], [0.5, 0.9], 2.0)


def test_ibc():
    assert math.isclose(ibc(0.8, 2.0, 0.6, 1.0), 0.2)
    assert math.isnan(ibc(0.8, 1.0, 0.6, 1.0))
    # a method on the straight line from SLM to LLM has zero lift
    assert abs(ibc_lift(0.7, 2.0, (0.6, 1.0), (0.8, 3.0))) < 1e-12


def test_the_aiq_gap_interval_is_paired_over_prompts() -> None:
    from switchboard.offline.evaluation.metrics import aiq_gap_interval

    rng = np.random.default_rng(3)
    base = (rng.random((2, 400)) < 0.6).astype(float)
    cost = np.stack([np.full(400, 0.001), np.full(400, 0.004)])
    same = aiq_gap_interval({"a": (base, cost), "b": (base, cost)}, 5.0, "a", ["b"], draws=200)
    assert same["gap"] == 0.0 and same["ci95"] == [0.0, 0.0]  # what both share cancels in every draw
    better = base.copy()
    better[:, :40] = 1.0  # right on the first 40 prompts, at the same cost
    gap = aiq_gap_interval({"a": (better, cost), "b": (base, cost), "c": (base * 0, cost)}, 5.0, "a", ["b", "c"],
                           draws=200)
    assert gap["gap"] > 0 and 0 < gap["ci95"][0] <= gap["gap"] <= gap["ci95"][1]
