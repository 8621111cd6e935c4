"""The ``confidence`` judge: the answering call's own token probabilities, read with no model call."""

from __future__ import annotations

import math

import pytest

from switchboard.domain.judging import JudgeSpec
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import Candidate, JudgeTask
from switchboard.service.tasks import run_judge, solve
from tests.support.fakes import ScriptedProvider, ScriptedProviders, catalog_entry


def _task(mean_logprob, finish_reason="stop") -> JudgeTask:
    return JudgeTask(judge=JudgeSpec(kind="confidence", model="m"),
                     request=ChatRequest(messages=[Message(role="user", content="2+2?")]),
                     candidate=Candidate(model="m", text="4", mean_logprob=mean_logprob, finish_reason=finish_reason))


class NoCalls:
    def provider_for(self, entry):  # noqa: ANN001, ANN201
        raise AssertionError("the confidence judge calls no model")


@pytest.mark.parametrize("mean_logprob", [0.0, -0.05, -0.7, -3.0])
def test_the_score_is_the_geometric_mean_probability_of_the_answers_tokens(mean_logprob):
    verdict = run_judge(_task(mean_logprob), {}, NoCalls())
    assert verdict.score == pytest.approx(math.exp(mean_logprob))
    assert verdict.cost_usd == 0.0 and not verdict.failed and verdict.judge == "confidence:m"


@pytest.mark.parametrize(("mean_logprob", "finish_reason", "why"), [
    (None, "stop", "no token probabilities"), (-0.01, "length", "cut off")])
def test_it_abstains_without_token_probabilities_or_on_a_cut_off_answer(mean_logprob, finish_reason, why):
    verdict = run_judge(_task(mean_logprob, finish_reason), {}, NoCalls())
    assert verdict.score is None and not verdict.failed and why in verdict.detail


def test_the_answering_call_carries_its_token_probabilities_to_the_candidate():
    catalog = {"m": catalog_entry("m", price=0.1)}
    providers = ScriptedProviders({"m": ScriptedProvider(lambda messages: "4", mean_logprob=-0.2)})
    candidate = solve("m", ChatRequest(messages=[Message(role="user", content="2+2?")]), catalog, providers)
    assert candidate.mean_logprob == -0.2
    assert run_judge(JudgeTask(judge=JudgeSpec(kind="confidence", model="m"), request=ChatRequest(
        messages=[Message(role="user", content="2+2?")]), candidate=candidate), catalog, providers).score == \
        pytest.approx(math.exp(-0.2))
