"""``response_format``: the deterministic check every answer passes before the cascade may return it."""

from __future__ import annotations

import pytest

from switchboard.domain.cascade import step
from switchboard.domain.formats import check_answer, unfenced
from switchboard.domain.models import (
    Candidate,
    CascadeState,
    ChatRequest,
    Message,
    Plan,
    ResponseFormat,
    TierSpec,
)

OBJECT = ResponseFormat(type="json_object")
SCHEMA = ResponseFormat.model_validate({"type": "json_schema", "name": "person", "schema": {
    "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"], "additionalProperties": False}})


@pytest.mark.parametrize(("text", "fmt", "returned"), [
    ('{"a": 1}', OBJECT, '{"a": 1}'),
    ('```json\n{"a": 1}\n```', OBJECT, '{"a": 1}'),
    ('  {"name": "Ada", "age": 36}\n', SCHEMA, '{"name": "Ada", "age": 36}'),
])
def test_an_answer_in_the_format_is_returned_as_its_json_alone(text, fmt, returned):
    assert check_answer(text, fmt) == (returned, None)


@pytest.mark.parametrize(("text", "fmt", "why"), [
    ("Sure! Here it is: {\"a\": 1}", OBJECT, "not JSON"),
    ("[1, 2]", OBJECT, "not an object"),
    ('{"name": "Ada"}', SCHEMA, "'age' is a required property"),
    ('{"name": "Ada", "age": -1}', SCHEMA, "at age"),
    ('{"name": "Ada", "age": 3, "x": 1}', SCHEMA, "Additional properties"),
    ("", OBJECT, "not JSON"),
])
def test_an_answer_out_of_the_format_is_rejected_saying_why(text, fmt, why):
    returned, reason = check_answer(text, fmt)
    assert returned is None and why in reason


def test_only_a_fence_around_the_whole_answer_is_removed():
    assert unfenced('```\n{"a": 1}\n```') == '{"a": 1}'
    assert unfenced('text ```json\n{}\n``` more') == 'text ```json\n{}\n``` more'


def _state(fmt: ResponseFormat | None, n_tiers: int = 2) -> CascadeState:
    tiers = [TierSpec(model=f"m{i}", judges=[], threshold=0.0) for i in range(n_tiers)]
    return CascadeState(request_id="r", request=ChatRequest(messages=[Message(role="user", content="q")],
                                                             response_format=fmt), plan=Plan(tiers=tiers, route="default"))


def _answer(state: CascadeState, text: str) -> CascadeState:
    candidate = Candidate(model=state.plan.tiers[state.tier].model, text=text, cost_usd=0.01)
    return state.model_copy(update={"current": {"tier": state.tier, "candidate": candidate.model_dump(), "judges": [],
                                                "verdicts": []}})


def test_an_answer_that_breaks_the_format_is_a_failed_tier_still_paid_for_and_the_cascade_falls_through():
    state = step(_answer(_state(OBJECT), "I think the answer is 4."))
    assert state.decision.action == "escalate" and state.decision.reason == "tier_failed"
    assert state.attempts[0].rejected.startswith("response_format: the answer is not JSON")
    assert state.spent_usd == pytest.approx(0.01)
    state = step(_answer(state, '{"answer": 4}'))
    assert state.decision.answer_tier == 1 and state.spent_usd == pytest.approx(0.02)  # tier 1's answer, never 0's


def test_when_no_tier_meets_the_format_there_is_no_answer_to_return():
    state = step(_answer(_state(OBJECT), "four"))
    state = step(_answer(state, "4"))
    assert state.decision.action == "stop" and state.decision.answer_tier is None
    assert all(a.rejected for a in state.attempts)


def test_without_a_format_any_text_is_an_answer():
    state = step(_answer(_state(None, n_tiers=1), "four"))
    assert state.decision.answer_tier == 0 and state.attempts[0].rejected is None
