"""``response_format``: the deterministic check every answer passes before the cascade may return it."""

from __future__ import annotations

import pytest

from switchboard.domain.cascade import step
from switchboard.domain.formats import check_answer, unfenced
from switchboard.domain.requests import ChatRequest, Message, ResponseFormat
from switchboard.domain.state import Candidate, CascadeState, Plan, TierSpec

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


# ------------------------------------------------------------------------------------------- tools

def _use(choice: str = "auto", parallel: bool = True):
    from switchboard.domain.requests import Tool, ToolUse

    named = None if choice in ("auto", "required") else choice
    return ToolUse(choice="required" if named else choice, named=named, parallel=parallel, tools=[
        Tool(name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}},
                                             "required": ["city"], "additionalProperties": False}),
        Tool(name="now", parameters={"type": "object", "properties": {}})])


@pytest.mark.parametrize(("text", "choice", "parallel", "expected"), [
    ('{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]}', "auto", True,
     {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]}),
    ('{"content": "Hello!"}', "auto", True, {"content": "Hello!"}),
    ('```json\n{"tool_calls": [{"name": "now", "arguments": {}}, {"name": "now", "arguments": {}}]}\n```',
     "required", True, {"tool_calls": [{"name": "now", "arguments": {}}] * 2}),
])
def test_an_answer_that_follows_the_tool_protocol_is_returned_as_calls_or_text(text, choice, parallel, expected):
    from switchboard.domain.formats import check_tool_answer

    assert check_tool_answer(text, _use(choice, parallel)) == (expected, None)


@pytest.mark.parametrize(("text", "choice", "parallel", "why"), [
    ('{"tool_calls": [{"name": "get_weather", "arguments": {"town": "Rome"}}]}', "auto", True, "arguments invalid"),
    ('{"tool_calls": [{"name": "launch", "arguments": {}}]}', "auto", True, "names no offered tool"),
    ('{"content": "I will not."}', "required", True, "calls no tool"),
    ('{"tool_calls": [{"name": "now", "arguments": {}}]}', "get_weather", True, "tool_choice is function 'get_weather'"),
    ('{"tool_calls": [{"name": "now", "arguments": {"x": NaN}}]}', "auto", True, "not JSON"),
    ('{"tool_calls": [{"name": "now", "arguments": {}}, {"name": "now", "arguments": {}}]}', "auto", False,
     "parallel_tool_calls is false"),
    ("It is sunny in Rome.", "auto", True, "not JSON"),
    ('{"tool_calls": []}', "auto", True, "neither"),
])
def test_an_answer_that_breaks_the_tool_protocol_is_rejected_saying_why(text, choice, parallel, why):
    from switchboard.domain.formats import check_tool_answer

    answer, reason = check_tool_answer(text, _use(choice, parallel))
    assert answer is None and why in reason


def test_the_protocol_schema_admits_exactly_what_the_check_accepts():
    """The schema local models are constrained to (a grammar) and the check agree on sample answers."""
    from jsonschema import validators

    from switchboard.domain.formats import check_tool_answer, tool_protocol_schema

    samples = ['{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]}', '{"content": "hi"}',
               '{"tool_calls": [{"name": "get_weather", "arguments": {}}]}', '{"tool_calls": [{"name": "x", "arguments": {}}]}',
               '{"tool_calls": [{"name": "now", "arguments": {}}, {"name": "now", "arguments": {}}]}']
    import json

    for choice in ("auto", "required", "now"):
        for parallel in (True, False):
            use = _use(choice, parallel)
            schema = tool_protocol_schema(use)
            validator = validators.validator_for(schema)(schema)
            for text in samples:
                assert validator.is_valid(json.loads(text)) == (check_tool_answer(text, use)[1] is None), (choice, text)


def test_with_tools_only_tool_capable_models_are_planned():
    from switchboard.domain.catalog import ModelEntry, ModelPrice
    from switchboard.domain.planner import NoToolModel, PlannerConfig, build_plan

    def entry(mid, tools):
        return ModelEntry(model_id=mid, provider="openai", provider_model=mid, endpoint="http://127.0.0.1:1/v1",
                          supports_tools=tools, price=ModelPrice(input_usd_per_mtok=1, output_usd_per_mtok=1))

    catalog = {"plain": entry("plain", False), "caller": entry("caller", True)}
    config = PlannerConfig(default_tiers=["plain", "caller"], judges_per_tier=[])
    with_tools = ChatRequest(messages=[Message(role="user", content="q")], tool_use=_use())
    assert [t.model for t in build_plan(request=with_tools, catalog=catalog, config=config).tiers] == ["caller"]
    plain = ChatRequest(messages=[Message(role="user", content="q")])
    assert [t.model for t in build_plan(request=plain, catalog=catalog, config=config).tiers] == ["plain", "caller"]
    with pytest.raises(NoToolModel):
        build_plan(request=with_tools, catalog=catalog, config=config, pinned_model="plain")
    with pytest.raises(NoToolModel):
        build_plan(request=with_tools, catalog={"plain": catalog["plain"]}, config=config)


def test_a_tool_may_be_called_auto_and_tool_schemas_with_refs_survive_the_protocol():
    """A tool named like a mode ("auto") stays a named choice; a tool schema with $defs/$ref (as pydantic
    writes them) keeps working inside the protocol's schema."""
    import json

    from jsonschema import validators

    from switchboard.domain.formats import check_tool_answer, tool_protocol_schema
    from switchboard.domain.requests import Tool, ToolUse

    address = {"$defs": {"Street": {"type": "object", "properties": {"name": {"type": "string"}},
                                    "required": ["name"]}},
               "type": "object", "properties": {"street": {"$ref": "#/$defs/Street"}}, "required": ["street"]}
    use = ToolUse(choice="required", named="auto", tools=[Tool(name="auto", parameters=address),
                                                          Tool(name="other", parameters={"type": "object"})])
    good = '{"tool_calls": [{"name": "auto", "arguments": {"street": {"name": "Main"}}}]}'
    bad = '{"tool_calls": [{"name": "auto", "arguments": {"street": {}}}]}'
    other = '{"tool_calls": [{"name": "other", "arguments": {}}]}'
    assert check_tool_answer(good, use)[1] is None
    assert "required property" in check_tool_answer(bad, use)[1]
    assert "tool_choice is function 'auto'" in check_tool_answer(other, use)[1]
    assert check_tool_answer('{"content": "hi"}', use)[0] is None
    schema = tool_protocol_schema(use)
    validator = validators.validator_for(schema)(schema)
    assert validator.is_valid(json.loads(good)) and not validator.is_valid(json.loads(bad))
    assert not validator.is_valid(json.loads(other))
