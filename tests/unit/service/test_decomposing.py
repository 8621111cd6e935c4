"""Decomposition on the request path: a request of one task pays for the detector only; a compound one is
decomposed when the decomposer's reply is a decomposition and the budget allows, each part a cascade of its
own, composed in order; anything else answers the request whole, never an error."""

from __future__ import annotations

import json

import pytest

from switchboard.domain.requests import ChatRequest, Message, ResponseFormat
from switchboard.http.rendering import billed_usage, chat_completion_response
from switchboard.ports import Completion, CompletionRequest, ProviderUnavailable
from switchboard.service.commands import ChatCommand
from switchboard.service.streaming import Delta, Final
from tests.support.builder import build_services, complete
from tests.support.fakes import InMemoryTraces, catalog_entry

TWO = "What is the capital of France?\n\nWhat is 17 times 23?"
ANSWERS = {"What is the capital of France?": "Paris", "What is 17 times 23?": "391"}


class Upstream:
    """Every model: the decomposer's reply when asked for tasks (``reply``), a verdict when judging, else
    the answer to the question asked (the whole request gets both answers in one)."""

    def __init__(self, reply: str = '{"marks":"TT"}', fail_decomposer: bool = False) -> None:
        self.reply, self.fail_decomposer = reply, fail_decomposer
        self.decomposer_calls: list[CompletionRequest] = []
        self.questions: list[str] = []

    def complete(self, request: CompletionRequest) -> Completion:
        messages = request.messages
        if messages[0].role == "system" and messages[0].content.startswith("Mark the tasks"):
            self.decomposer_calls.append(request)
            if self.fail_decomposer:
                raise ProviderUnavailable("decomposer down")
            text = self.reply
        elif "<<<ANSWER" in messages[-1].content:
            text = "VERDICT: CORRECT"
        else:
            question = messages[-1].content
            self.questions.append(question)
            text = ANSWERS.get(question, " and ".join(ANSWERS.values()))
        return Completion(text=text, input_tokens=sum(len(m.content) for m in messages) // 4,
                          output_tokens=max(1, len(text) // 4), finish_reason="stop")

    def provider_for(self, entry):  # noqa: ANN001 - one upstream serves every model
        return self


def _services(upstream: Upstream, **kw):  # noqa: ANN202
    catalog = [catalog_entry("cheap", price=0.5), catalog_entry("strong", price=5.0)]
    return build_services(catalog, providers=upstream, decompose=True, **kw)


def _request(text: str, **kw) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], max_tokens=32, **kw)


def test_one_question_pays_for_the_detector_only() -> None:
    upstream = Upstream()
    state = complete(_services(upstream), _request("What is the capital of France?"))
    assert upstream.decomposer_calls == [] and state.decomposition is None and state.mode == "whole"


def test_two_questions_are_answered_part_by_part_and_composed_in_order() -> None:
    upstream, traces = Upstream(), InMemoryTraces()
    state = complete(_services(upstream, traces=traces), _request(TWO))
    assert len(upstream.decomposer_calls) == 1
    call = upstream.decomposer_calls[0]
    assert call.temperature == 0.0 and call.grammar and call.response_format is not None  # constrained
    assert state.mode == "parts" and state.decomposition is not None
    parts = state.decomposition.parts
    assert [p.request.prompt for p in parts] == list(ANSWERS)
    assert set(upstream.questions) == set(ANSWERS)  # each model saw one question at a time, never both
    assert [p.request_id for p in parts] == [f"{state.request_id}-p1", f"{state.request_id}-p2"]
    assert all(p.decision is not None and p.attempts for p in parts)  # each part its own cascade
    body = chat_completion_response(state)
    assert body["choices"][0]["message"]["content"] == "Part 1:\nParis\n\nPart 2:\n391"
    decomposer = state.decomposition.decomposer
    assert decomposer is not None and decomposer.reply is not None and decomposer.outcome == "2 parts"
    assert state.spent_usd == pytest.approx(decomposer.reply.cost_usd + sum(p.spent_usd for p in parts))
    view = body["switchboard"]["decomposition"]
    assert view["decomposed"] and [p["prompt"] for p in view["parts"]] == list(ANSWERS)
    assert all(p["tiers"] and p["tiers"][0]["verdicts"] for p in view["parts"])  # each part's tiers and judges
    usage = billed_usage(state)
    assert usage["prompt_tokens"] == decomposer.reply.usage.input_tokens + sum(
        billed_usage(p)["prompt_tokens"] for p in parts)
    stored = traces.items[state.request_id].state
    assert stored is not None and stored.decomposition is not None and len(stored.decomposition.parts) == 2


@pytest.mark.parametrize(("reply", "why"), [("nonsense", "not a reply of the schema"),
                                            ('{"marks":"-T"}', "a single task"),
                                            ('{"marks":"TTT"}', "3 marks for 2 blocks")])
def test_a_reply_that_is_no_decomposition_answers_the_request_whole_and_pays_the_call(reply: str, why: str) -> None:
    upstream = Upstream(reply=reply)
    state = complete(_services(upstream), _request(TWO))
    assert state.mode == "whole" and state.decomposition is not None and why in state.decomposition.outcome
    assert TWO in upstream.questions and state.attempts  # the whole request's own cascade
    decomposer = state.decomposition.decomposer
    assert decomposer is not None and decomposer.reply is not None
    assert state.spent_usd == pytest.approx(decomposer.reply.cost_usd + sum(a.cost_usd for a in state.attempts))


def test_a_failed_decomposer_is_no_decomposition_never_an_error() -> None:
    upstream = Upstream(fail_decomposer=True)
    state = complete(_services(upstream), _request(TWO))
    assert state.mode == "whole" and state.decomposition is not None
    assert state.decomposition.decomposer is not None and state.decomposition.decomposer.error == "ProviderUnavailable"
    assert state.decision is not None and state.decision.answer_tier is not None


def test_the_decomposer_is_the_cheapest_model_unless_configured() -> None:
    upstream = Upstream()
    state = complete(_services(upstream), _request(TWO))
    assert state.decomposition is not None and state.decomposition.decomposer.model == "cheap"  # type: ignore[union-attr]
    state = complete(_services(upstream, decomposer_model="strong"), _request(TWO))
    assert state.decomposition is not None and state.decomposition.decomposer.model == "strong"  # type: ignore[union-attr]


def test_a_budget_is_a_cap_over_the_decomposer_and_every_part() -> None:
    upstream = Upstream()
    services = _services(upstream)
    whole = services.planner.plan(_request(TWO))
    budget = 3 * whole.tiers[0].est_cost_usd
    state = complete(services, _request(TWO, max_cost_usd=budget))
    assert state.mode == "parts" and state.decomposition is not None
    decomposer_cost = state.decomposition.decomposer.reply.cost_usd  # type: ignore[union-attr]
    shares = [p.request.max_cost_usd for p in state.decomposition.parts]
    assert all(s is not None for s in shares)
    assert sum(shares) == pytest.approx(budget - decomposer_cost)  # type: ignore[arg-type]
    assert all(p.plan.tiers[0].est_cost_usd <= s for p, s in zip(state.decomposition.parts, shares, strict=True))  # type: ignore[operator]
    assert state.spent_usd <= budget


def test_a_budget_that_cannot_pay_the_decomposer_and_the_whole_request_skips_the_decomposer() -> None:
    upstream = Upstream()
    services = _services(upstream)
    budget = services.planner.plan(_request(TWO)).tiers[0].est_cost_usd * 1.0001
    state = complete(services, _request(TWO, max_cost_usd=budget))
    assert upstream.decomposer_calls == [] and state.mode == "whole"
    assert state.decomposition is not None and "budget" in state.decomposition.outcome
    assert state.spent_usd <= budget


def test_parts_that_cannot_be_planned_within_their_shares_answer_the_request_whole() -> None:
    """Each part may answer up to max_tokens: two parts can cost twice what the whole request can, so a
    budget that pays for the whole request (bare) and the decomposer leaves the parts too little."""
    from switchboard.domain.costs import decomposer_bound, tier_bound

    upstream = Upstream()
    services = _services(upstream)
    cheap = catalog_entry("cheap", price=0.5)
    request = ChatRequest(messages=[Message(role="user", content=TWO)], max_tokens=4000)
    budget = tier_bound(request, "cheap", [], {"cheap": cheap}) + decomposer_bound(request, cheap) * 1.01
    state = complete(services, request.model_copy(update={"max_cost_usd": budget}))
    assert state.mode == "whole" and state.decomposition is not None
    assert "cannot be planned" in state.decomposition.outcome and len(upstream.decomposer_calls) == 1
    assert state.spent_usd <= budget


@pytest.mark.parametrize("kind", ["pinned", "response_format"])
def test_a_pinned_model_or_a_json_answer_is_never_decomposed(kind: str) -> None:
    upstream = Upstream()
    services = _services(upstream)
    if kind == "pinned":
        state = complete(services, _request(TWO), pinned="strong")
    else:
        request = _request(TWO, response_format=ResponseFormat(type="json_object"))
        upstream_json = Upstream()
        upstream_json.complete = lambda r: Completion(text=json.dumps({"a": 1}), input_tokens=5,  # type: ignore[method-assign]
                                                      output_tokens=5, finish_reason="stop")
        state = complete(_services(upstream_json), request)
    assert state.decomposition is None and upstream.decomposer_calls == []


def test_a_compound_request_streams_as_a_cascade_of_parts_not_tokens() -> None:
    upstream = Upstream()
    services = _services(upstream, stream_tokens=True)
    events = list(services.streams.stream(ChatCommand(request=_request(TWO))))
    assert not any(isinstance(e, Delta) for e in events)
    final = events[-1]
    assert isinstance(final, Final) and final.state.mode == "parts"


class SecondPartDown(Upstream):
    """Every model fails on the second question (and only there)."""

    def complete(self, request: CompletionRequest) -> Completion:
        if request.messages[-1].content == "What is 17 times 23?":
            raise ProviderUnavailable("down for this question")
        return super().complete(request)


def test_a_part_no_tier_answers_fails_the_request_naming_the_part_and_keeps_the_trace() -> None:
    from switchboard.service.errors import CascadeFailed

    traces = InMemoryTraces()
    with pytest.raises(CascadeFailed) as failed:
        complete(_services(SecondPartDown(), traces=traces), _request(TWO))
    assert "part 2 of the request" in str(failed.value) and failed.value.trace_id
    stored = traces.items[failed.value.trace_id]
    assert stored.status == "failed" and stored.state is not None and stored.state.decomposition is not None
    first, second = stored.state.decomposition.parts
    assert first.decision is not None and first.decision.action == "accept"  # its answer stays in the trace
    assert second.decision is not None and second.decision.action == "stop"
