from switchboard.domain.decision import Calibration, aggregate_confidence, best_attempt, decide
from switchboard.domain.state import Attempt, Candidate, Verdict


def v(score, judge="j", kind="llm_judge"):
    return Verdict(judge=judge, kind=kind, score=score)


def attempt(tier, confidence, answered=True):
    cand = Candidate(model=f"m{tier}", text="x") if answered else None
    return Attempt(tier=tier, model=f"m{tier}", candidate=cand, confidence=confidence,
                   error=None if answered else "boom")


def test_aggregate_ignores_abstentions():
    assert aggregate_confidence([v(1.0, "a"), v(None, "b"), v(0.0, "c")]) == 0.5


def test_aggregate_all_abstained_is_none():
    assert aggregate_confidence([v(None), v(None, "k")]) is None
    assert aggregate_confidence([]) is None


def test_aggregate_uses_weights_by_judge_name():
    conf = aggregate_confidence([v(1.0, "strong"), v(0.0, "weak")], weights={"strong": 3.0, "weak": 1.0})
    assert conf == 0.75


def test_calibration_interpolates_and_clamps():
    cal = Calibration(xs=[0.0, 0.5, 1.0], ys=[0.1, 0.3, 0.9])
    assert cal.apply(-1) == 0.1
    assert cal.apply(0.25) == 0.2
    assert abs(cal.apply(0.75) - 0.6) < 1e-9
    assert cal.apply(2) == 0.9
    assert Calibration().apply(0.42) == 0.42


def test_confident_answer_is_accepted_and_verified():
    d = decide(tier=0, n_tiers=2, answered=True, confidence=0.8, threshold=0.6, spent_usd=0.0,
               next_tier_cost_usd=1.0, max_cost_usd=None, attempts=[attempt(0, 0.8)])
    assert (d.action, d.answer_tier, d.verified) == ("accept", 0, True)


def test_unconfident_answer_escalates_when_a_tier_remains():
    d = decide(tier=0, n_tiers=2, answered=True, confidence=0.3, threshold=0.6, spent_usd=0.0,
               next_tier_cost_usd=0.01, max_cost_usd=None, attempts=[attempt(0, 0.3)])
    assert (d.action, d.reason) == ("escalate", "not_confident")


def test_no_judgement_escalates_rather_than_accepts():
    d = decide(tier=0, n_tiers=3, answered=True, confidence=None, threshold=0.0, spent_usd=0.0,
               next_tier_cost_usd=0.0, max_cost_usd=None, attempts=[attempt(0, None)])
    assert d.action == "escalate"


def test_a_single_unjudged_tier_is_accepted_as_it_is_never_verified():
    d = decide(tier=0, n_tiers=1, answered=True, confidence=None, threshold=0.6, spent_usd=0.0,
               next_tier_cost_usd=None, max_cost_usd=None, attempts=[attempt(0, None)], judged=False)
    assert (d.action, d.reason, d.answer_tier, d.verified) == ("accept", "unjudged", 0, False)
    failed = decide(tier=0, n_tiers=1, answered=False, confidence=None, threshold=0.6, spent_usd=0.0,
                    next_tier_cost_usd=None, max_cost_usd=None, attempts=[attempt(0, None, answered=False)],
                    judged=False)
    assert (failed.action, failed.reason) == ("stop", "all_tiers_failed")


def test_failed_tier_escalates_with_reason():
    d = decide(tier=0, n_tiers=2, answered=False, confidence=None, threshold=0.5, spent_usd=0.0,
               next_tier_cost_usd=0.0, max_cost_usd=None, attempts=[attempt(0, None, answered=False)])
    assert (d.action, d.reason) == ("escalate", "tier_failed")


def test_budget_stop_returns_best_answer_so_far_unverified():
    attempts = [attempt(0, 0.4)]
    d = decide(tier=0, n_tiers=2, answered=True, confidence=0.4, threshold=0.6, spent_usd=0.002,
               next_tier_cost_usd=0.01, max_cost_usd=0.005, attempts=attempts)
    assert (d.action, d.reason, d.answer_tier, d.verified) == ("stop", "budget", 0, False)


def test_budget_exactly_met_still_escalates():
    d = decide(tier=0, n_tiers=2, answered=True, confidence=0.1, threshold=0.6, spent_usd=0.004,
               next_tier_cost_usd=0.001, max_cost_usd=0.005, attempts=[attempt(0, 0.1)])
    assert d.action == "escalate"


def test_last_tier_unconfident_stops_with_most_confident_attempt():
    attempts = [attempt(0, 0.55), attempt(1, 0.2)]
    d = decide(tier=1, n_tiers=2, answered=True, confidence=0.2, threshold=0.6, spent_usd=0.0,
               next_tier_cost_usd=None, max_cost_usd=None, attempts=attempts)
    assert (d.action, d.reason, d.answer_tier) == ("stop", "tiers_exhausted", 0)


def test_every_tier_failed_stops_without_answer():
    attempts = [attempt(0, None, answered=False), attempt(1, None, answered=False)]
    d = decide(tier=1, n_tiers=2, answered=False, confidence=None, threshold=0.5, spent_usd=0.0,
               next_tier_cost_usd=None, max_cost_usd=None, attempts=attempts)
    assert (d.action, d.reason, d.answer_tier) == ("stop", "all_tiers_failed", None)


def test_best_attempt_ties_go_to_the_later_stronger_tier():
    assert best_attempt([attempt(0, None), attempt(1, None)]).tier == 1
    assert best_attempt([attempt(0, 0.9), attempt(1, 0.5)]).tier == 0
    assert best_attempt([attempt(0, None, answered=False)]) is None


def test_a_raw_score_is_never_compared_with_a_measured_probability():
    """The cheap tier's raw judge score (0.45) is on another scale than the strong tier's calibrated
    P(correct) (0.3): the stronger, later answer is returned rather than the larger number."""
    raw = attempt(0, 0.45)
    calibrated = attempt(1, 0.3).model_copy(update={"measured": True})
    assert best_attempt([raw, calibrated]).tier == 1
    both = [attempt(0, 0.45).model_copy(update={"measured": True}), calibrated]
    assert best_attempt(both).tier == 0  # one scale: the more likely right answer
