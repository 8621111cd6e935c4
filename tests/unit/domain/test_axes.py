"""The four-axis taxonomy and combined routing: rule labels, the slow/fast fusion, suitability's backoff,
and a prompt's own tier order from the learned router and suitability."""

from __future__ import annotations

import numpy as np
import pytest

from switchboard.domain.axes import (
    AxisClassifier,
    Suitability,
    combined_order,
    combined_scores,
    complexity_of,
    fuse,
    margin,
    rule_format,
    rule_task,
)
from switchboard.domain.dial import Dial, OperatingPoint, RouteSignals, lay_out, route_signals

MC = "Which is a mammal?\nA) trout\nB) whale\nC) shark\nD) squid\nAnswer:"


@pytest.mark.parametrize(("prompt", "category", "task", "fmt"), [
    (MC, "biology", "knowledge", "multiple_choice"),
    ("Write a Python function that reverses a list.", "mbpp", "code", "code"),
    ("Solve 3x + 4 = 19 and compute x. Give only the number.", None, "math", "numeric"),
    ("Tell me about the Roman empire.", None, "knowledge", "free_text"),
])
def test_task_and_format_are_read_from_the_prompt(prompt, category, task, fmt):
    assert (rule_task(prompt, category), rule_format(prompt, category)) == (task, fmt)


def test_complexity_is_the_share_of_models_wrong_in_tertiles():
    assert [complexity_of(x) for x in (0.0, 0.3, 0.34, 0.66, 0.67, 1.0)] == [
        "low", "low", "medium", "medium", "high", "high"]


def test_the_slow_classifier_is_asked_only_where_the_fast_one_is_unsure_and_fused_by_lambda():
    axes = AxisClassifier(classes={"task": ["code", "math"], "domain": ["a", "b", "c"]}, margin=0.3, lam=0.6)
    probs = {"task": np.array([0.9, 0.1]), "domain": np.array([0.4, 0.35, 0.25])}
    assert axes.unsure(probs) == ["domain"] and margin(probs["domain"]) == pytest.approx(0.05)
    fused = fuse(probs["domain"], np.array([0.0, 1.0, 0.0]), 0.6)
    assert fused == pytest.approx([0.16, 0.74, 0.1]) and axes.labels({"domain": fused}) == {"domain": "b"}
    assert fuse(probs["domain"], None, 0.6) == pytest.approx(probs["domain"])  # no slow classifier: lambda 0


def test_suitability_backs_off_to_the_finest_combination_training_saw():
    suit = Suitability(models=["s", "b"], levels=[["domain", "format"], ["domain"], []],
                       tables={"domain=law|format=mc": [0.2, 0.9], "domain=law": [0.3, 0.8], "*": [0.5, 0.7]})
    assert suit.phi({"domain": "law", "format": "mc"}) == pytest.approx([0.2, 0.9])
    assert suit.phi({"domain": "law", "format": "code"}) == pytest.approx([0.3, 0.8])
    assert suit.phi({"domain": "math", "format": "mc"}) == pytest.approx([0.5, 0.7])


def test_combined_order_takes_the_best_scored_cheaper_models_cheapest_first_then_the_safety_net():
    cost = [1.0, 2.0, 3.0, 10.0]
    scores = combined_scores(np.array([0.2, 0.9, 0.6, 0.95]), np.array([0.8, 0.1, 0.7, 0.9]), w=0.5)
    assert scores == pytest.approx([0.5, 0.5, 0.65, 0.925])
    assert combined_order(scores, cost, safety_net=3, n_cheap=2) == [0, 2, 3]  # tie 0/1 -> the cheaper
    assert combined_order(scores, cost, safety_net=3, n_cheap=2, allowed=[True, True, False, True]) == [0, 1, 3]
    assert combined_order(scores, cost, safety_net=3, n_cheap=0) == [3]
    assert combined_scores(None, np.array([0.1]), 0.5) == pytest.approx([0.1])  # either alone where one is missing


def test_a_dial_point_in_a_routed_order_lays_the_prompt_out_by_its_own_signals():
    suit = Suitability(models=["a", "b", "c"], levels=[["domain"], []],
                       tables={"domain=law": [0.9, 0.1, 0.8], "*": [0.5, 0.5, 0.8]})
    dial = Dial(models=["a", "b", "c"], global_order=["a", "b", "c"], model_cost=[1.0, 1.5, 5.0],
                axes=AxisClassifier(classes={"domain": ["law", "math"]}), suitability=suit, combine_weight=0.5,
                points=[OperatingPoint(name="p", order="combined", models=2, cheap=0.5, last=0.5)])
    signals = route_signals(dial, [0.1, 0.9, 0.9], {"domain": np.array([0.8, 0.2])})
    assert signals.labels == {"domain": "law"} and signals.phi == pytest.approx([0.9, 0.1, 0.8])
    assert lay_out(dial, dial.points[0], None, signals).tiers == ["a", "c"]  # 0.5*0.1+0.5*0.9 = 0.5 = b's: cheaper
    learned = dial.points[0].model_copy(update={"order": "learned"})
    assert lay_out(dial, learned, None, signals).tiers == ["b", "c"]
    suitable = dial.points[0].model_copy(update={"order": "suitability"})
    assert lay_out(dial, suitable, None, signals).tiers == ["a", "c"]
    assert lay_out(dial, dial.points[0], None, None).tiers == ["a", "c"]  # no signals: the global order
    assert lay_out(dial, dial.points[0], None, RouteSignals()).tiers == ["a", "c"]
