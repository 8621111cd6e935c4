"""Every OpenAI request parameter is honoured or refused with a 400 naming it - never silently dropped."""

from __future__ import annotations

import pytest

from switchboard.http.body import parse
from switchboard.http.chat_completions import NEUTRAL_PARAMETERS, ChatCompletionRequest
from switchboard.http.statuses import http_error
from switchboard.ports import Completion
from switchboard.service.errors import BadRequest
from switchboard.service.tasks import cut_at_stop

BASE = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("name", "value"), [
    ("top_p", 0.5), ("presence_penalty", 1.0), ("frequency_penalty", -0.5), ("logit_bias", {"50256": -100}),
    ("logprobs", True), ("top_logprobs", 5), ("response_format", {"type": "xml"}),
    ("response_format", {"type": "json_schema"}), ("response_format", {"type": "json_object", "json_schema": {}}),
    ("response_format", {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "nonsense"}}}),
    ("tools", [{"type": "retrieval"}]), ("tools", [{"type": "function", "function": {"name": "f", "parameters": {"type": 7}}}]),
    ("tools", [{"type": "function", "function": {"name": "f"}}] * 2), ("tool_choice", "auto"), ("seed", 7),
    ("tool_choice", {"type": "function", "function": {"name": "absent"}}), ("functions", [{"name": "f"}]),
    ("store", True), ("metadata", {"k": "v"}), ("stream_options", {"include_usage": True}),
    ("temperaturee", 0.2), ("max_token", 5), ("service_tier", "flex"),
])
def test_a_parameter_that_would_change_the_answer_is_refused_by_name(name, value):
    with pytest.raises(BadRequest) as caught:
        parse(ChatCompletionRequest, {**BASE, name: value})
    status, body = http_error(caught.value)
    assert status == 400
    assert body["error"]["param"].split(".")[0] == name and name in body["error"]["message"]  # or a field of it
    assert body["error"]["type"] == "invalid_request_error" and isinstance(body["error"]["code"], str)


@pytest.mark.parametrize("name", sorted(n for n, values in NEUTRAL_PARAMETERS.items() if values))
def test_sdk_defaults_are_accepted(name):
    for value in (*NEUTRAL_PARAMETERS[name], None):
        request = parse(ChatCompletionRequest, {**BASE, name: value})
        assert request.to_domain(10_000).prompt == "hi"


def test_honoured_parameters_reach_the_domain_request():
    request = parse(ChatCompletionRequest, {**BASE, "stop": ["\n\n", "END"], "user": "u-42", "max_completion_tokens": 9,
                                            "temperature": 0.3, "n": 1, "stream": False})
    domain = request.to_domain(10_000)
    assert domain.stop == ["\n\n", "END"] and domain.user == "u-42"
    assert domain.max_tokens == 9 and domain.temperature == 0.3
    assert parse(ChatCompletionRequest, {**BASE, "stop": "###"}).to_domain(100).stop == ["###"]


@pytest.mark.parametrize("stop", [["a", "b", "c", "d", "e"], [""]])
def test_bad_stop_sequences_are_refused(stop):
    with pytest.raises(BadRequest) as caught:
        parse(ChatCompletionRequest, {**BASE, "stop": stop})
    assert http_error(caught.value)[1]["error"]["param"] == "stop"


def test_the_answer_is_cut_at_the_first_stop_sequence():
    completion = Completion(text="4\n\nExplanation: END", input_tokens=3, output_tokens=5, finish_reason="length")
    cut = cut_at_stop(completion, ["END", "\n\n"])
    assert cut.text == "4" and cut.finish_reason == "stop" and cut.output_tokens == 5
    assert cut_at_stop(completion, ["zzz"]) is completion


def test_a_json_response_format_is_told_to_every_model_and_kept_for_the_check():
    plain = parse(ChatCompletionRequest, {**BASE, "response_format": {"type": "text"}}).to_domain(10_000)
    assert plain.response_format is None and [m.role for m in plain.messages] == ["user"]
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    request = parse(ChatCompletionRequest, {
        "model": "auto", "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "count", "schema": schema, "strict": True}}})
    domain = request.to_domain(10_000)
    assert domain.response_format is not None and domain.response_format.json_schema == schema
    assert [m.role for m in domain.messages] == ["system", "user"]  # one system message, the format appended
    assert domain.messages[0].content.startswith("Be terse.") and '"required":["n"]' in domain.messages[0].content
    assert domain.prompt == "hi"
    assert domain.response_format.openai() == {"type": "json_schema", "json_schema": {"name": "count", "schema": schema}}


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


def test_tools_reach_the_domain_with_their_protocol_and_earlier_tool_turns_are_kept():
    body = {"model": "auto", "tools": [WEATHER], "tool_choice": "required", "parallel_tool_calls": False, "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
        {"role": "user", "content": "And in Rome?"}]}
    domain = parse(ChatCompletionRequest, body).to_domain(10_000)
    assert domain.tool_use is not None and domain.tool_use.choice == "required" and not domain.tool_use.parallel
    assert [t.name for t in domain.tool_use.tools] == ["get_weather"]
    roles = [m.role for m in domain.messages]
    assert roles == ["system", "user", "assistant", "user", "user"]
    assert "get_weather" in domain.messages[0].content and "tool_calls" in domain.messages[0].content
    assert domain.messages[2].content == '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}'
    assert "call_1" in domain.messages[3].content and "18C" in domain.messages[3].content
    none = parse(ChatCompletionRequest, {**BASE, "tools": [WEATHER], "tool_choice": "none"}).to_domain(10_000)
    assert none.tool_use is None and [m.role for m in none.messages] == ["user"]


@pytest.mark.parametrize(("body", "param"), [
    ({"tools": [WEATHER], "response_format": {"type": "json_object"}}, "response_format"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages"),
    ({"messages": [{"role": "user", "content": "hi", "tool_calls": []}, {"role": "user", "content": None}]}, "messages"),
    ({"messages": [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]},
        {"role": "user", "content": "hi"}]}, "messages"),
])
def test_unusable_tool_requests_are_refused_by_name(body, param):
    with pytest.raises(BadRequest) as caught:
        parse(ChatCompletionRequest, {**BASE, **body}).to_domain(10_000)
    assert http_error(caught.value)[1]["error"]["param"].split(".")[0] == param


def _loop(result_id: str = "call_1") -> list[dict]:
    return [{"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": result_id, "content": "21 C, cloudy"}]


def test_a_tool_loop_keeps_its_structure_for_native_templates_and_knows_the_answered_calls():
    domain = parse(ChatCompletionRequest, {**BASE, "tools": [WEATHER], "messages": _loop()}).to_domain(10_000)
    system, user, assistant, result = domain.messages
    assert system.native() is None  # Switchboard's own instruction: a native template renders the tools itself
    assert assistant.native() == {"role": "assistant", "content": "Let me check.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    assert result.native() == {"role": "tool", "tool_call_id": "call_1", "content": "21 C, cloudy"}
    assert domain.prompt == "Weather in Paris?"  # a tool's result is not the question
    assert domain.tool_use is not None and len(domain.tool_use.answered) == 1
    repeat = '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}'
    from switchboard.domain.formats import check_tool_answer

    answer, why = check_tool_answer(repeat, domain.tool_use)
    assert answer is None and "repeats a call to get_weather already answered" in why
    other = '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]}'
    assert check_tool_answer(other, domain.tool_use)[1] is None


def test_a_tool_result_answering_no_earlier_call_is_refused_naming_it():
    with pytest.raises(BadRequest) as caught:
        parse(ChatCompletionRequest, {**BASE, "tools": [WEATHER], "messages": _loop("call_9")}).to_domain(10_000)
    assert "call_9" in str(caught.value) and http_error(caught.value)[1]["error"]["param"] == "messages"
