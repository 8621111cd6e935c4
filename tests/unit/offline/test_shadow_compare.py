"""``switchboard compare`` replays each shadow plan over the answers its live request bought (the engine of
the request path, the providers simulated from the trace) and reports agreement, cost and accuracy where
the reference model answered; a replay that needs an answer nobody bought is incomplete and estimated."""

from __future__ import annotations

import pytest

from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import (
    Attempt,
    Candidate,
    CascadeState,
    Decision,
    Plan,
    ShadowRecord,
    TierSpec,
)
from switchboard.offline.shadow_compare import compare, replay_shadow
from switchboard.ports import Trace
from tests.support.fakes import catalog_entry

CATALOG = {m: catalog_entry(m, price=p) for m, p in (("small", 0.1), ("mid", 0.5), ("big", 2.0))}
COST = {"small": 0.001, "mid": 0.004, "big": 0.02}


def _trace(trace_id: str, bought: dict[str, str], answered: str, shadow: ShadowRecord | None) -> Trace:
    attempts = [Attempt(tier=i, model=m, candidate=Candidate(model=m, text=f"The answer is {a}.", canonical=a,
                                                             cost_usd=COST[m]))
                for i, (m, a) in enumerate(bought.items())]
    plan = Plan(tiers=[TierSpec(model=m) for m in bought], shadow=shadow)
    state = CascadeState(request_id=trace_id, request=ChatRequest(messages=[Message(role="user", content="2+2?")]),
                         plan=plan, attempts=attempts, spent_usd=sum(COST[m] for m in bought),
                         decision=Decision(action="accept", reason="confident", answer_tier=list(bought).index(answered),
                                           answer_model=answered))
    return Trace(trace_id=trace_id, created_at=f"2026-12-04T0{len(trace_id)}:00:00.000+00:00", status="succeeded",
                 state=state)


def _shadow(*tiers: str) -> ShadowRecord:
    plan = Plan(tiers=[TierSpec(model=m, threshold=0.0, est_cost_usd=COST[m] * 1.5) for m in tiers])
    return ShadowRecord(release="shadow-v1", plan=plan, est_cost_usd=COST[tiers[0]] * 1.5)


def test_a_shadow_plan_is_replayed_over_the_live_answers_at_their_live_cost():
    trace = _trace("a", {"small": "4", "big": "4"}, "big", _shadow("big"))
    outcome = replay_shadow(trace, CATALOG, verifier=None)
    assert outcome.complete and (outcome.answer_model, outcome.answer) == ("big", "4")
    assert outcome.cost_usd == pytest.approx(COST["big"])  # bought once live: the same answer, the same price


def test_a_shadow_that_needs_an_answer_nobody_bought_is_incomplete_and_estimated():
    trace = _trace("b", {"small": "3"}, "small", _shadow("big"))
    outcome = replay_shadow(trace, CATALOG, verifier=None)
    assert not outcome.complete and outcome.cost_usd == pytest.approx(COST["big"] * 1.5)


def test_the_report_counts_agreement_cost_and_accuracy_where_the_reference_answered():
    traces = [
        _trace("a", {"small": "4", "big": "4"}, "small", _shadow("big")),     # same answer, another model
        _trace("bb", {"small": "3", "big": "4"}, "small", _shadow("big")),    # live wrong, shadow right
        _trace("ccc", {"small": "3"}, "small", _shadow("big")),               # incomplete
        _trace("dddd", {"small": "4"}, "small", ShadowRecord(release="shadow-v1", error="RuntimeError")),
        _trace("eeeee", {"small": "4"}, "small", None),                       # no shadow installed then
    ]
    report = compare(traces, CATALOG, verifier_for=lambda release: None)
    assert (report["traces_with_shadow"], report["shadow_failed"], report["replayed"], report["complete_replays"]) \
        == (4, 1, 3, 2)
    assert report["agreement"] == {"same_first_tier": 0.0, "same_answer_model": 0.0, "same_answer": 0.5}
    accuracy = report["accuracy_where_reference_answered"]
    assert (accuracy["reference"], accuracy["prompts"], accuracy["live"], accuracy["shadow"]) == ("big", 2, 0.5, 1.0)
    live = 1000 * (COST["small"] + COST["big"] + COST["small"] + COST["big"] + COST["small"]) / 3
    shadow = 1000 * (COST["big"] + COST["big"] + 1.5 * COST["big"]) / 3
    assert report["cost_per_1k_usd"] == {"live": round(live, 5), "shadow_estimated": round(shadow, 5)}
    assert compare(traces, CATALOG, verifier_for=lambda r: None, since="2026-12-04T03")["traces_with_shadow"] == 2
