"""AnthropicMessages against the loopback fake server's /v1/messages: request shape and error mapping."""

from __future__ import annotations

import pytest

from switchboard.adapters.providers.anthropic import AnthropicMessages
from switchboard.domain.requests import Message
from switchboard.ports import CompletionRequest, ProviderRejected, ProviderTimeout, ProviderUnavailable
from tests.support.fake_openai_server import FakeOpenAIServer

MESSAGES = [
    Message(role="system", content="Be terse."),
    Message(role="user", content="What is 2+2?"),
    Message(role="user", content="Only the number."),
    Message(role="assistant", content="4"),
    Message(role="user", content="And 3+3?"),
]


@pytest.fixture
def server():
    with FakeOpenAIServer() as fake:
        yield fake


def provider(server, **kw) -> AnthropicMessages:
    api_key = kw.pop("api_key", "sk-ant-secret")
    return AnthropicMessages("claude-test", api_key=api_key, base_url=server.url, **kw)


def test_ok_response_text_usage_and_stop_reason_are_parsed(server):
    server.reply = "6"
    completion = provider(server).complete(CompletionRequest(MESSAGES, max_tokens=8, temperature=0.0))
    assert completion.text == "6"
    assert (completion.input_tokens, completion.output_tokens) == (11, 3)
    assert completion.finish_reason == "stop"  # end_turn, in the OpenAI vocabulary


def test_system_goes_top_level_and_same_role_turns_are_merged(server):
    provider(server).complete(CompletionRequest(MESSAGES, max_tokens=8, temperature=1.5, seed=3))
    [request] = server.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-secret"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["system"] == "Be terse."
    assert request.body["temperature"] == 1.0  # clamped to Anthropic's range
    assert request.body["messages"] == [
        {"role": "user", "content": "What is 2+2?\n\nOnly the number."},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
    ]
    assert "seed" not in request.body


@pytest.mark.parametrize("behaviour, error", [
    ("500", ProviderUnavailable),
    ("429", ProviderUnavailable),
    ("401", ProviderRejected),
    ("400", ProviderRejected),
    ("malformed", ProviderUnavailable),
    ("no_choices", ProviderUnavailable),
])
def test_failure_maps_to_provider_error_class(server, behaviour, error):
    server.behaviour = behaviour
    with pytest.raises(error):
        provider(server).complete(CompletionRequest(MESSAGES, max_tokens=8, temperature=0.0))


def test_slow_server_raises_provider_timeout(server):
    server.behaviour = "slow"
    with pytest.raises(ProviderTimeout):
        provider(server, timeout_s=0.3).complete(CompletionRequest(MESSAGES, max_tokens=8, temperature=0.0))


def test_api_key_is_hidden_from_repr_and_errors(server):
    server.behaviour = "401"
    p = provider(server, api_key="sk-ant-hidden")
    assert "sk-ant-hidden" not in repr(p)
    with pytest.raises(ProviderRejected) as info:
        p.complete(CompletionRequest(MESSAGES, max_tokens=8, temperature=0.0))
    assert "sk-ant-hidden" not in str(info.value)
