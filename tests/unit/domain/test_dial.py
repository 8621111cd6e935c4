"""The dial: how a trained operating point lays out a request's cascade, and which point a request gets."""

from __future__ import annotations

import pytest

from switchboard.domain.dial import (
    NEVER,
    Dial,
    OperatingPoint,
    PointConfig,
    cascade_layout,
    lay_out,
    tier_thresholds,
)

ORDER = ["a", "b", "c", "d"]


def test_layout_takes_the_first_models_then_the_safety_net():
    assert cascade_layout(ORDER, 2, pair_start=False) == (["a", "d"], [[], []])
    assert cascade_layout(ORDER, 9, pair_start=False) == (ORDER, [[], [], [], []])
    assert cascade_layout(ORDER, 1, pair_start=False) == (["d"], [[]])


def test_pair_start_makes_the_second_model_tier_zeros_agreement_judge():
    assert cascade_layout(ORDER, 3, pair_start=True) == (["a", "d"], [["b"], []])
    assert cascade_layout(ORDER, 2, pair_start=True) == (["a", "d"], [[], []])  # too short to pair


def test_bars_are_last_before_the_final_tier_final_at_it_cheap_elsewhere():
    assert tier_thresholds(4, cheap=0.7, last=0.9, final=0.0) == [0.7, 0.7, 0.9, 0.0]
    assert tier_thresholds(1, cheap=0.7, last=0.9, final=0.0) == [0.0]


def _dial() -> Dial:
    cheap = OperatingPoint(name="dial@1/10", models=2, cheap=0.8, last=0.8, train_accuracy=0.70,
                           train_cost_per_1k=0.5,
                           per_category={"law": PointConfig(order="category", models=1, cheap=NEVER, last=NEVER)})
    mid = OperatingPoint(name="dial@1/4", models=3, pair_start=True, cheap=0.9, last=0.6, own_last=True,
                         train_accuracy=0.75, train_cost_per_1k=1.5)
    top = OperatingPoint(name="dial:best", models=4, cheap=0.95, last=0.95, train_accuracy=0.78,
                         train_cost_per_1k=4.0)
    return Dial(models=ORDER, global_order=ORDER, category_orders={"law": ["b", "c"]}, points=[cheap, mid, top],
                profiles={"economy": "dial@1/10", "balanced": "dial@1/4", "best": "dial:best"})


def test_a_category_setting_overrides_the_point_for_its_prompts():
    dial = _dial()
    law = lay_out(dial, dial.point("dial@1/10"), "law")
    assert (law.tiers, law.thresholds) == (["c"], [0.0])  # straight to the category's safety net
    other = lay_out(dial, dial.point("dial@1/10"), "math")
    assert (other.tiers, other.thresholds) == (["a", "d"], [0.8, 0.0])
    mid = lay_out(dial, dial.point("dial@1/4"), None)
    assert (mid.tiers, mid.judges, mid.thresholds, mid.own_last) == (["a", "d"], [["b"], []], [0.6, 0.0], True)


@pytest.mark.parametrize(("kwargs", "point"), [
    ({}, "dial@1/4"),  # the default profile
    ({"profile": "economy"}, "dial@1/10"),
    ({"profile": "best"}, "dial:best"),
    ({"quality": 0.72}, "dial@1/4"),  # the cheapest point that reached it in training
    ({"quality": 0.99}, "dial:best"),  # none did: the most accurate
    ({"max_cost_usd": 0.002}, "dial@1/4"),  # the most accurate point whose cost per prompt fits
    ({"max_cost_usd": 1e-6}, "dial@1/10"),  # none fits: the cheapest
])
def test_a_request_picks_a_point_by_profile_quality_or_budget(kwargs, point):
    assert _dial().select(**kwargs).name == point


def test_an_unknown_profile_is_an_error_naming_the_known_ones():
    with pytest.raises(KeyError, match="economy"):
        _dial().select(profile="turbo")


def _config(cost: float, acc: float, models: int, last: float = 0.0) -> tuple:
    # (cost per 1k, accuracy, mode, pair, models, cheap, last, own_last), as the dial search returns them
    return (cost, acc, "global", False, models, 0.0, last, False)


def test_profiles_name_the_budget_fraction_points_when_the_pool_has_models_that_cheap():
    from switchboard.offline.dial_search import choose_dial

    configs = [_config(0.05, 0.60, 2), _config(0.2, 0.70, 3), _config(1.0, 0.72, 1)]
    points, profiles = choose_dial(configs, best_single_cost=1.0, best_single_acc=0.72)
    assert (profiles["economy"], profiles["balanced"]) == ("dial@1/10", "dial@1/4")
    assert {p.name: p.train_accuracy for p in points}["dial@1/4"] == 0.70


def test_a_pool_without_a_model_that_cheap_balances_at_the_most_accurate_point_cheaper_than_the_best():
    """A local pool: the cheapest model costs a third of the strongest, so no point fits 1/4 of its cost;
    balanced is then the most accurate point cheaper than the strongest model, economy the cheapest."""
    from switchboard.offline.dial_search import choose_dial

    configs = [_config(0.33, 0.36, 2), _config(0.88, 0.50, 2, last=0.5), _config(1.0, 0.49, 1)]
    points, profiles = choose_dial(configs, best_single_cost=1.0, best_single_acc=0.49)
    by_name = {p.name: p for p in points}
    assert by_name[profiles["economy"]].train_accuracy == 0.36
    assert by_name[profiles["balanced"]].train_accuracy == 0.50
    assert by_name[profiles["balanced"]].train_cost_per_1k < 1.0
