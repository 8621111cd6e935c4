from switchboard.domain.cascade import step
from switchboard.domain.judging import JudgeSpec
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import CascadeState, Plan, TierSpec


def state(tiers=2, current=None, max_cost=None, tier=0, quality=None):
    specs = [TierSpec(model=f"m{i}", judges=[JudgeSpec(kind="llm_judge", model="m1")], threshold=0.6,
                      est_cost_usd=0.01 * (i + 1)) for i in range(tiers)]
    req = ChatRequest(messages=[Message(role="user", content="q")], max_cost_usd=max_cost, quality=quality)
    return CascadeState(request_id="r1", request=req, plan=Plan(tiers=specs), tier=tier, current=current)


def tier_output(tier, scores, cost=0.001):
    return {"tier": tier, "candidate": {"model": f"m{tier}", "text": "answer", "cost_usd": cost},
            "judges": [{"kind": "llm_judge", "model": "m1"}],
            "verdicts": [{"judge": "llm_judge:m1", "kind": "llm_judge", "score": s, "cost_usd": 0.0005}
                         for s in scores]}


def test_confident_tier_is_accepted_and_cost_includes_judges():
    out = step(state(current=tier_output(0, [1.0])))
    assert out.decision.action == "accept"
    assert out.tier == 0 and out.current is None
    assert abs(out.spent_usd - 0.0015) < 1e-12
    assert out.attempts[0].confidence == 1.0


def test_unconfident_tier_moves_cursor_to_next_tier():
    out = step(state(current=tier_output(0, [0.0])))
    assert out.decision.action == "escalate"
    assert out.tier == 1


def test_caught_provider_error_becomes_failed_attempt_and_escalates():
    out = step(state(current={"Error": "ProviderTimeout", "Cause": "no answer in 60 s"}))
    assert out.attempts[0].error.startswith("ProviderTimeout")
    assert out.attempts[0].candidate is None
    assert (out.decision.action, out.decision.reason) == ("escalate", "tier_failed")


def test_request_budget_stops_before_an_unaffordable_tier():
    out = step(state(current=tier_output(0, [0.0]), max_cost=0.005))
    assert (out.decision.action, out.decision.reason, out.decision.answer_tier) == ("stop", "budget", 0)


def test_request_quality_overrides_tier_threshold():
    out = step(state(current=tier_output(0, [1.0, 0.0]), quality=0.4))
    assert out.decision.action == "accept"  # 0.5 >= 0.4 although the tier's bar is 0.6


def test_missing_tier_output_is_recorded_not_crashing():
    out = step(state(current=None, tiers=1))
    assert out.attempts[0].error.startswith("Switchboard.MissingTierResult")
    assert out.decision.reason == "all_tiers_failed"
