"""Tools in a local model's own form: the template is read from the GGUF, and the model's calls - parsed
by llama.cpp or spelt in the model's own way - come back in the tool-call protocol the cascade checks."""

from __future__ import annotations

import json
import struct

import pytest

from switchboard.adapters.providers.native_tools import (
    chat_template,
    has_tool_section,
    native_tool_fields,
    protocol_answer,
)
from switchboard.domain.requests import Tool, ToolUse


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
])
def test_a_native_answer_reads_back_as_calls_or_text_in_the_protocol(text, calls, expected):
    assert json.loads(protocol_answer(text, calls)) == expected


def test_tool_choice_reaches_llama_cpp_in_openai_terms():
    tools = [Tool(name="get_weather"), Tool(name="now")]
    assert native_tool_fields(ToolUse(tools=tools, choice="auto"))["tool_choice"] == "auto"
    named = native_tool_fields(ToolUse(tools=tools, choice="required", named="now", parallel=False))
    assert named["tool_choice"] == {"type": "function", "function": {"name": "now"}}
    assert named["parallel_tool_calls"] is False and [t["function"]["name"] for t in named["tools"]] == ["get_weather", "now"]
