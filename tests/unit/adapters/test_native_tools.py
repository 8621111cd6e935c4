"""Tools in a local model's own form: the template is read from the GGUF, and the model's calls - parsed
by llama.cpp or spelt in the model's own way - come back in the tool-call protocol the cascade checks."""

from __future__ import annotations

import json
import struct

import pytest

from switchboard.adapters.providers import local_gguf
from switchboard.adapters.providers.native_tools import (
    chat_template,
    has_tool_section,
    native_tool_fields,
    protocol_answer,
)
from switchboard.domain.formats import only_repeats
from switchboard.domain.requests import Message, Tool, ToolCall, ToolUse
from switchboard.ports import CompletionRequest


def _gguf(path, metadata: dict) -> None:
    """A GGUF header with string and string-array metadata (no tensors)."""
    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    body = b"GGUF" + struct.pack("<I", 3) + struct.pack("<QQ", 0, len(metadata) + 1)
    body += string("general.count") + struct.pack("<I", 4) + struct.pack("<I", 7)  # a uint32 before them
    for key, value in metadata.items():
        if isinstance(value, list):
            body += string(key) + struct.pack("<I", 9) + struct.pack("<IQ", 8, len(value))
            body += b"".join(string(v) for v in value)
        else:
            body += string(key) + struct.pack("<I", 8) + string(value)
    path.write_bytes(body)


def test_the_chat_template_is_read_from_the_gguf_and_its_tool_section_recognised(tmp_path):
    qwen = "{%- if tools %}# Tools{% for t in tools %}{{ t | tojson }}{% endfor %}{% endif %}{{ m.tool_calls }}"
    _gguf(tmp_path / "a.gguf", {"tokenizer.ggml.tokens": ["a", "b"], "tokenizer.chat_template": qwen})
    _gguf(tmp_path / "base.gguf", {"general.name": "a base model"})
    assert chat_template(tmp_path / "a.gguf") == qwen and has_tool_section(qwen)
    assert chat_template(tmp_path / "base.gguf") is None and not has_tool_section(None)
    assert not has_tool_section("{{ messages }}")


@pytest.mark.parametrize(("text", "calls", "expected"), [
    ("", [{"name": "get_weather", "arguments": '{"city": "Paris"}'}],
     {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}),
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>', [],
     {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}),
    ('```json\n{"name": "now", "arguments": {}}\n```', [], {"tool_calls": [{"name": "now", "arguments": {}}]}),
    ('```json\n{\n  "name": "get_weather",\n  "arguments": {\n    "city": "Paris"\n  }\n}\n```', [],
     {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}),
    ('{"name": "now", "arguments": "{}"}', [], {"tool_calls": [{"name": "now", "arguments": {}}]}),
    ('{{"name": "get_weather", "arguments": {"city": "Paris"}}}', [],
     {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}),
    ('{{"name": "now", "arguments": {}}\n{{"name": "now", "arguments": {}}}', [],
     {"tool_calls": [{"name": "now", "arguments": {}}, {"name": "now", "arguments": {}}]}),
    ("It is 21 degrees in Paris.", [], {"content": "It is 21 degrees in Paris."}),
    ('Call {"name": "now", "arguments": {}} now', [], {"content": 'Call {"name": "now", "arguments": {}} now'}),
    ('{"answer": 4}', [], {"content": '{"answer": 4}'}),
    ('{"name": "calculator", "arguments": {"expression": "2*3"}, "result": "6"}', [],  # a report, not a call
     {"content": '{"name": "calculator", "arguments": {"expression": "2*3"}, "result": "6"}'}),
])
def test_a_native_answer_reads_back_as_calls_or_text_in_the_protocol(text, calls, expected):
    assert json.loads(protocol_answer(text, calls)) == expected


def test_tool_choice_reaches_llama_cpp_in_openai_terms():
    tools = [Tool(name="get_weather"), Tool(name="now")]
    assert native_tool_fields(ToolUse(tools=tools, choice="auto"))["tool_choice"] == "auto"
    # a named function: that tool alone, and a call required (llama.cpp reads OpenAI's named choice as "auto")
    named = native_tool_fields(ToolUse(tools=tools, choice="required", named="now", parallel=False))
    assert named["tool_choice"] == "required"
    assert named["parallel_tool_calls"] is False and [t["function"]["name"] for t in named["tools"]] == ["now"]


WEATHER_CALL = ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"})
ANSWERED = ToolUse(tools=[Tool(name="get_weather")], answered=[WEATHER_CALL.key()])


def test_an_answer_only_repeats_when_every_call_it_makes_was_answered():
    again = json.dumps({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]})
    other = json.dumps({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    both = json.dumps({"tool_calls": [json.loads(again)["tool_calls"][0], json.loads(other)["tool_calls"][0]]})
    assert only_repeats(again, ANSWERED)
    assert not only_repeats(other, ANSWERED) and not only_repeats(both, ANSWERED)
    assert not only_repeats(json.dumps({"content": "21 C"}), ANSWERED) and not only_repeats("not json", ANSWERED)


class _ScriptedEngine:
    """A SCRIPTED FAKE llama.cpp server: streams the next scripted text for each request it is given."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.bodies: list[dict] = []

    def handle_chat_completions(self, body: dict, stream) -> None:
        self.bodies.append(body)
        stream({"choices": [{"delta": {"content": self.texts[len(self.bodies) - 1]}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 10}})


def _local_model(tmp_path, texts: list[str]) -> tuple[local_gguf.LocalGGUF, _ScriptedEngine]:
    _gguf(tmp_path / "m.gguf", {"tokenizer.chat_template": "{% if tools %}tools{% endif %}{{ tool_call }}"})
    model = local_gguf.LocalGGUF(tmp_path / "m.gguf", n_threads=1)
    engine = _ScriptedEngine(texts)
    local_gguf._ENGINES[(str(model.model_path), model.n_ctx, 1)] = local_gguf._Engine(server=engine, load_seconds=0.0)
    return model, engine


def _after_the_result(use: ToolUse) -> CompletionRequest:
    messages = [Message(role="user", content="Weather in Paris?"),
                Message(role="assistant", content="{}", tool_calls=[WEATHER_CALL], raw=""),
                Message(role="user", content="Result", tool_call_id="call_1", raw="21 C")]
    return CompletionRequest(messages, max_tokens=32, tools=use)


def test_a_model_restating_an_answered_call_is_asked_again_without_the_tools(tmp_path):
    model, engine = _local_model(tmp_path, ['{"name": "get_weather", "arguments": {"city": "Paris"}}',
                                            "It is 21 C in Paris."])
    try:
        completion = model.complete(_after_the_result(ANSWERED))
    finally:
        local_gguf.unload_all()
    assert json.loads(completion.text) == {"content": "It is 21 C in Paris."}
    assert "tools" in engine.bodies[0] and "tools" not in engine.bodies[1] and "tool_choice" not in engine.bodies[1]
    assert engine.bodies[1]["messages"] == engine.bodies[0]["messages"]  # the calls and results still rendered
    assert completion.input_tokens == 200 and completion.output_tokens == 20  # both generations are paid


def test_a_new_call_or_a_required_call_is_not_asked_again(tmp_path):
    repeated = '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}'
    model, engine = _local_model(tmp_path, ['{"name": "get_weather", "arguments": {"city": "Oslo"}}', repeated,
                                            "unused"])
    try:
        fresh = model.complete(_after_the_result(ANSWERED))
        required = model.complete(_after_the_result(ANSWERED.model_copy(update={"choice": "required"})))
    finally:
        local_gguf.unload_all()
    assert json.loads(fresh.text)["tool_calls"][0]["arguments"] == {"city": "Oslo"}
    assert required.text == repeated  # a forced call is the protocol's answer as it is (refused by the cascade)
    assert len(engine.bodies) == 2


@pytest.mark.parametrize(("use", "native"), [
    (ToolUse(tools=[Tool(name="get_weather")], choice="auto"), True),
    (ToolUse(tools=[Tool(name="get_weather")], choice="required"), False),
    (ToolUse(tools=[Tool(name="get_weather"), Tool(name="now")], choice="required", named="now"), False),
])
def test_a_forced_call_keeps_the_protocol_and_its_grammar_and_auto_goes_native(tmp_path, use, native):
    """llama.cpp's native path reads a named choice as "auto" and did not hold "required" to a call; the
    protocol's grammar (the response format llama.cpp compiles) does."""
    from switchboard.domain.formats import tool_format

    model, engine = _local_model(tmp_path, ['{"tool_calls": [{"name": "now", "arguments": {}}]}'])
    request = CompletionRequest([Message(role="user", content="What time is it?")], max_tokens=16,
                                response_format=tool_format(use).openai(), tools=use)
    try:
        model.complete(request)
    finally:
        local_gguf.unload_all()
    [body] = engine.bodies
    assert ("tools" in body) is native and ("response_format" in body) is not native


def test_a_forced_call_repeating_an_answered_one_is_asked_again_held_to_the_other_tools(tmp_path):
    """pydantic-ai's typed output: after the tool's result the model must call the output tool; a model
    that calls the answered tool again is asked once more, its grammar offering only the others."""
    from switchboard.domain.formats import tool_format, without_repeated_tools

    final = Tool(name="final_result", parameters={"type": "object", "properties": {"celsius": {"type": "integer"}},
                                                  "required": ["celsius"]})
    forced = ANSWERED.model_copy(update={"tools": [Tool(name="get_weather"), final], "choice": "required"})
    repeat = '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}'
    answer = '{"tool_calls": [{"name": "final_result", "arguments": {"celsius": 21}}]}'
    assert [t.name for t in without_repeated_tools(repeat, forced).tools] == ["final_result"]
    assert without_repeated_tools(answer, forced) is None  # a new call is no repeat
    assert without_repeated_tools(repeat, forced.model_copy(update={"choice": "auto"})) is None  # text allowed
    assert without_repeated_tools(repeat, forced.model_copy(update={"tools": [Tool(name="get_weather")]})) is None

    model, engine = _local_model(tmp_path, [repeat, answer])
    request = _after_the_result(forced)
    request = CompletionRequest(request.messages, max_tokens=32, tools=forced,
                                response_format=tool_format(forced).openai())
    try:
        completion = model.complete(request)
    finally:
        local_gguf.unload_all()
    assert completion.text == answer and completion.input_tokens == 200  # both generations are paid
    first, second = engine.bodies
    assert "final_result" in json.dumps(first["response_format"]) and "get_weather" in json.dumps(first["response_format"])
    assert "final_result" in json.dumps(second["response_format"]) and "get_weather" not in json.dumps(second["response_format"])
