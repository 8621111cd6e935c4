"""Anthropic's Messages API mapped onto the one set of request rules (``http.messages_api``)."""

from __future__ import annotations

import pytest

from switchboard.http.body import parse
from switchboard.http.messages_api import MessagesRequest, anthropic_error
from switchboard.http.statuses import http_error
from switchboard.service.errors import BadRequest

BASE = {"model": "auto", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}


def test_a_messages_request_becomes_the_same_openai_request():
    request = parse(MessagesRequest, {
        **BASE, "system": [{"type": "text", "text": "Be terse."}], "temperature": 0.2, "stop_sequences": ["END"],
        "metadata": {"user_id": "u-1"}, "top_p": 1,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "messages": [{"role": "user", "content": "weather?"},
                     {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                                        "input": {"city": "Oslo"}}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "3C"},
                                                  {"type": "text", "text": "and Rome?"}]}]})
    domain = request.openai().to_domain(10_000)
    assert domain.max_tokens == 32 and domain.temperature == 0.2 and domain.stop == ["END"] and domain.user == "u-1"
    assert domain.tool_use is not None and domain.tool_use.choice == "required" and not domain.tool_use.parallel
    assert [m.role for m in domain.messages] == ["system", "user", "assistant", "user", "user"]
    assert domain.messages[0].content.startswith("Be terse.")
    assert '"city": "Oslo"' in domain.messages[2].content and "toolu_1" in domain.messages[3].content
    assert domain.messages[4].content == "and Rome?"


@pytest.mark.parametrize(("extra", "param"), [
    ({"top_k": 5}, "top_k"), ({"top_p": 0.5}, "top_p"), ({"thinking": {"type": "enabled"}}, "thinking"),
    ({"metadata": {"org": "x"}}, "metadata"), ({"tool_choice": {"type": "any"}}, "tool_choice"),
    ({"frequency_penalty": 1}, "frequency_penalty"), ({"max_tokens": 0}, "max_tokens"),
])
def test_a_field_it_cannot_honour_is_refused_by_name(extra, param):
    with pytest.raises(BadRequest) as caught:
        parse(MessagesRequest, {**BASE, **extra}).openai()
    status, body = http_error(caught.value)
    assert status == 400 and body["error"]["param"].split(".")[0] == param
    shaped = anthropic_error(status, body)
    assert shaped["type"] == "error" and shaped["error"]["type"] == "invalid_request_error"
    assert shaped["error"]["param"] == body["error"]["param"]
