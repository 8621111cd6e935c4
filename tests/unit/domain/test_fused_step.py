"""The decide task on a dial plan: answers bought once, fusion by the verifier, verification only with the
verifier the dial was calibrated with."""

from __future__ import annotations

import numpy as np
import pytest

from switchboard.domain.answer_features import NO_ANSWER_FEATURES, AnswerFeatures, Projection
from switchboard.domain.fusion import feature_names
from switchboard.domain.judging import JudgeSpec
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import Candidate, CascadeState, Fusion, Plan, TierResult, TierSpec, Verdict
from switchboard.service.tasks import run_decide

MODELS = ["small", "mid", "big"]
SHARE = feature_names(MODELS).index("share")


class ShareVerifier:
    """A stand-in verifier: P(correct) = the share of bought answers that agree with the candidate."""

    sha256 = "abc"
    answer_features = NO_ANSWER_FEATURES

    def predict(self, X):
        return np.asarray(X)[:, SHARE]


def _state(answers: dict | None = None, sha: str | None = "abc") -> CascadeState:
    plan = Plan(tiers=[TierSpec(model="small", judges=[JudgeSpec(kind="agreement", model="mid")], threshold=0.9),
                       TierSpec(model="big", threshold=0.0)],
                route="dial", fusion=Fusion(models=MODELS, router_p=[0.5, 0.6, 0.9], verifier_sha256=sha,
                                            weights={"verifier": 1.0, "agreement:mid": 0.0}))
    return CascadeState(request_id="r", request=ChatRequest(messages=[Message(role="user", content="q?")]),
                        plan=plan, answers=answers or {})


def _answer(model: str, key: str, cost: float, reused: bool = False) -> Candidate:
    return Candidate(model=model, text=f"answer {key}", canonical=key, cost_usd=cost, reused=reused)


def _current(tier_answer: Candidate, judge_answer: Candidate) -> dict:
    result = TierResult(tier=0, candidate=tier_answer, judges=[JudgeSpec(kind="agreement", model="mid")])
    verdict = Verdict(judge="agreement:mid", kind="agreement", score=None, cost_usd=judge_answer.cost_usd,
                      answer_canonical=judge_answer.canonical, answer=judge_answer)
    return result.model_dump(mode="json") | {"verdicts": [verdict.model_dump(mode="json")]}


def test_agreeing_answers_are_fused_verified_and_each_paid_once():
    state = _state()
    out = run_decide(state.model_copy(update={"current": _current(_answer("small", "B", 0.01),
                                                                    _answer("mid", "B", 0.02))}),
                     verifier=ShareVerifier())
    assert out.decision.action == "accept" and out.decision.verified and out.decision.confidence == 1.0
    assert set(out.answers) == {"small", "mid"} and out.spent_usd == 0.03
    verdicts = {v.kind: v for v in out.attempts[0].verdicts}
    assert verdicts["verifier"].score == 1.0 and verdicts["agreement"].score == 1.0
    assert verdicts["agreement"].answer is None  # the bought answer moved to state.answers


def test_a_disagreement_escalates_and_the_judges_answer_is_not_bought_again():
    state = _state()
    out = run_decide(state.model_copy(update={"current": _current(_answer("small", "B", 0.01),
                                                                    _answer("mid", "C", 0.02))}),
                     verifier=ShareVerifier())
    assert out.decision.action == "escalate" and out.tier == 1
    # mid already answered: a later tier (or judge) of mid reuses it at no cost
    again = run_decide(_state(answers=out.answers).model_copy(update={
        "tier": 0, "current": _current(_answer("small", "B", 0.0, reused=True), _answer("mid", "C", 0.0, reused=True))}),
        verifier=ShareVerifier())
    assert again.spent_usd == 0.0 and set(again.answers) == {"small", "mid"}


def test_a_verifier_the_dial_was_not_calibrated_with_verifies_nothing():
    state = _state(sha="another-run")
    out = run_decide(state.model_copy(update={"current": _current(_answer("small", "B", 0.01),
                                                                    _answer("mid", "B", 0.02))}),
                     verifier=ShareVerifier())
    assert "verifier" not in {v.kind for v in out.attempts[0].verdicts}
    assert out.attempts[0].confidence is None and out.decision.action == "escalate"
    assert not out.decision.verified


def test_the_final_tier_returns_the_best_answer_without_calling_it_verified():
    state = _state().model_copy(update={"tier": 1, "answers": {"small": _answer("small", "B", 0.01)},
                                        "spent_usd": 0.01})
    current = TierResult(tier=1, candidate=_answer("big", "C", 0.5), judges=[]).model_dump(mode="json")
    out = run_decide(state.model_copy(update={"current": current | {"verdicts": []}}), verifier=ShareVerifier())
    assert out.decision.action == "accept" and out.decision.reason == "final_tier" and not out.decision.verified
    assert out.decision.answer_model in {"small", "big"}


class ConfidenceVerifier:
    """A stand-in verifier that reads the answers' own log-probability (``answer_mean_logprob``, after the
    agreement features): P(correct) = exp(mean log-probability)."""

    sha256 = "abc"
    answer_features = AnswerFeatures(logprob=True)

    def predict(self, X):
        X = np.asarray(X)
        return np.exp(X[:, len(feature_names(MODELS))])


def _with_logprob(model: str, key: str, cost: float, logprob: float | None) -> Candidate:
    return _answer(model, key, cost).model_copy(update={"mean_logprob": logprob})


def test_a_verifier_reading_the_answers_fuses_to_the_answer_its_model_was_sure_of():
    state = _state()
    current = _current(_with_logprob("small", "B", 0.01, -1.2), _with_logprob("mid", "C", 0.02, -0.05))
    out = run_decide(state.model_copy(update={"current": current}), verifier=ConfidenceVerifier())
    verdict = next(v for v in out.attempts[0].verdicts if v.kind == "verifier")
    assert out.attempts[0].answer_model == "mid" and verdict.score == pytest.approx(np.exp(-0.05), abs=1e-6)
    assert out.decision.action == "accept" and out.decision.answer_model == "mid"


def test_a_verifier_whose_answer_features_cannot_be_computed_abstains_and_the_tier_escalates():
    class EmbeddingVerifier(ConfidenceVerifier):
        answer_features = AnswerFeatures(embedding=Projection(mean=[0.0] * 4, components=[[1.0, 0, 0, 0]]))

    state = _state()
    current = _current(_answer("small", "B", 0.01), _answer("mid", "B", 0.02))
    out = run_decide(state.model_copy(update={"current": current}), verifier=EmbeddingVerifier())  # no encoder
    verdict = next(v for v in out.attempts[0].verdicts if v.kind == "verifier")
    assert verdict.failed and verdict.score is None and "encoder" in verdict.detail
    assert out.decision.action == "escalate" and not out.decision.verified
