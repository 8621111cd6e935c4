"""The composer: one answer in the order of the parts; verified only when every part is; the spend is the
decomposer's call plus every part's cascade."""

from __future__ import annotations

import pytest

from switchboard.domain.composition import answer_of, answered, compose, unanswered_parts
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import (
    Attempt,
    Candidate,
    CascadeState,
    Decision,
    DecomposerCall,
    Decomposition,
    Plan,
    TierSpec,
    Usage,
)


def _part(k: int, text: str | None, verified: bool, confidence: float | None = 0.9, spent: float = 0.01) -> CascadeState:
    request = ChatRequest(messages=[Message(role="user", content=f"question {k}")])
    plan = Plan(tiers=[TierSpec(model="m")])
    if text is None:
        return CascadeState(request_id=f"r-p{k}", request=request, plan=plan, spent_usd=0.0,
                            attempts=[Attempt(tier=0, model="m", error="ProviderUnavailable")],
                            decision=Decision(action="stop", reason="all_tiers_failed"))
    answer = Candidate(model=f"model{k}", text=text, usage=Usage(input_tokens=10, output_tokens=k), cost_usd=spent)
    return CascadeState(request_id=f"r-p{k}", request=request, plan=plan, spent_usd=spent,
                        attempts=[Attempt(tier=0, model=f"model{k}", candidate=answer, answer_model=f"model{k}")],
                        decision=Decision(action="accept", reason="confident", confidence=confidence, answer_tier=0,
                                          verified=verified))


def _compound(*parts: CascadeState, decomposer_cost: float = 0.002) -> CascadeState:
    request = ChatRequest(messages=[Message(role="user", content="question 1\n\nquestion 2")])
    reply = Candidate(model="cheap", text='{"tasks":[1,2]}', cost_usd=decomposer_cost)
    return CascadeState(request_id="r", request=request, plan=Plan(tiers=[TierSpec(model="m")]), mode="parts",
                        spent_usd=decomposer_cost,
                        decomposition=Decomposition(decomposer=DecomposerCall(model="cheap", reply=reply),
                                                    parts=list(parts)))


def test_the_answer_is_each_part_s_labelled_in_order_and_the_spend_is_every_call() -> None:
    final = compose(_compound(_part(1, "Paris", True), _part(2, " B ", True, spent=0.03)))
    assert answer_of(final) is not None and answer_of(final).text == "Part 1:\nParis\n\nPart 2:\nB"  # type: ignore[union-attr]
    assert answer_of(final).model == "model1+model2"  # type: ignore[union-attr]
    assert answer_of(final).usage == Usage(input_tokens=20, output_tokens=3)  # type: ignore[union-attr]
    assert final.spent_usd == pytest.approx(0.002 + 0.01 + 0.03)
    assert final.decision is not None and final.decision.action == "accept" and final.decision.reason == "composed"
    assert final.decision.verified and final.decision.confidence == pytest.approx(0.81)  # P(every part right)
    assert answered(final)


def test_verified_only_when_every_part_is_verified() -> None:
    final = compose(_compound(_part(1, "Paris", True), _part(2, "B", False)))
    assert final.decision is not None and not final.decision.verified
    unmeasured = compose(_compound(_part(1, "Paris", True, confidence=None), _part(2, "B", True)))
    assert unmeasured.decision is not None and unmeasured.decision.confidence is None


def test_a_part_nobody_answered_is_said_so_and_the_request_is_not_accepted() -> None:
    final = compose(_compound(_part(1, "Paris", True), _part(2, None, False)))
    assert answer_of(final).text.endswith("Part 2:\n(no model could answer this part)")  # type: ignore[union-attr]
    assert final.decision is not None and (final.decision.action, final.decision.reason) == ("stop", "part_unanswered")
    assert not final.decision.verified
    assert unanswered_parts(final) == [2] and not answered(final)  # the request fails, naming the part


def test_no_part_answered_is_no_answer() -> None:
    final = compose(_compound(_part(1, None, False), _part(2, None, False)))
    assert answer_of(final) is None and not answered(final) and unanswered_parts(final) == [1, 2]
    assert final.decision is not None and final.decision.reason == "parts_failed"
    assert final.spent_usd == pytest.approx(0.002)


def test_composing_twice_does_not_count_the_spend_twice() -> None:
    once = compose(_compound(_part(1, "a", True), _part(2, "b", True)))
    assert compose(once).spent_usd == pytest.approx(once.spent_usd)


def test_a_whole_request_is_left_as_it_is() -> None:
    whole = _part(1, "Paris", True)
    assert compose(whole) == whole and answer_of(whole) is not None and answered(whole)
