"""OpenAICompatible against a real HTTP server on loopback: request shape, parsing and error mapping."""

from __future__ import annotations

import socket

import httpx
import pytest

from switchboard.adapters.providers.openai_compat import OpenAICompatible
from switchboard.domain.requests import Message
from switchboard.ports import (
    CompletionRequest,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from tests.support.fake_openai_server import FakeOpenAIServer

MESSAGES = [Message(role="system", content="Be terse."), Message(role="user", content="What is 2+2?")]


@pytest.fixture
def server():
    with FakeOpenAIServer() as fake:
        yield fake


def complete(provider: OpenAICompatible, **kw):
    max_tokens, temperature = kw.pop("max_tokens", 16), kw.pop("temperature", 0.0)
    return provider.complete(CompletionRequest(MESSAGES, max_tokens=max_tokens, temperature=temperature, **kw))


def test_ok_response_is_parsed_into_text_usage_and_finish_reason(server):
    server.reply = "4"
    completion = complete(OpenAICompatible(server.base_url, "tiny"))
    assert completion.text == "4"
    assert completion.finish_reason == "stop"
    assert completion.input_tokens >= 1 and completion.output_tokens == 1
    assert completion.latency_ms > 0


def test_request_carries_model_messages_sampling_params_and_bearer_key(server):
    provider = OpenAICompatible(server.base_url + "/", "tiny", api_key="sk-secret")
    complete(provider, max_tokens=7, temperature=0.3, seed=42)
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-secret"
    assert request.body == {"model": "tiny", "max_tokens": 7, "temperature": 0.3, "seed": 42,
                            "messages": [{"role": "system", "content": "Be terse."},
                                         {"role": "user", "content": "What is 2+2?"}]}


def test_no_key_and_no_seed_sends_neither(server):
    complete(OpenAICompatible(server.base_url, "tiny"))
    [request] = server.requests
    assert "authorization" not in request.headers
    assert "seed" not in request.body


def test_missing_usage_is_estimated_from_characters(server):
    server.behaviour = "no_usage"
    server.reply = "x" * 40
    completion = complete(OpenAICompatible(server.base_url, "tiny"))
    assert completion.output_tokens == 10
    assert completion.input_tokens == (len("Be terse.") + 3) // 4 + (len("What is 2+2?") + 3) // 4


@pytest.mark.parametrize("behaviour, error", [
    ("500", ProviderUnavailable),
    ("429", ProviderUnavailable),
    ("408", ProviderTimeout),
    ("401", ProviderRejected),
    ("400", ProviderRejected),
])
def test_http_error_status_maps_to_provider_error_class(server, behaviour, error):
    server.behaviour = behaviour
    with pytest.raises(error, match=f"HTTP {behaviour}"):
        complete(OpenAICompatible(server.base_url, "tiny"))


def test_slow_server_raises_provider_timeout(server):
    server.behaviour = "slow"
    server.delay_s = 5
    with pytest.raises(ProviderTimeout):
        complete(OpenAICompatible(server.base_url, "tiny", timeout_s=0.3))


def test_malformed_json_raises_provider_unavailable_with_clear_message(server):
    server.behaviour = "malformed"
    with pytest.raises(ProviderUnavailable, match="malformed JSON"):
        complete(OpenAICompatible(server.base_url, "tiny"))


def test_missing_choices_raises_provider_unavailable(server):
    server.behaviour = "no_choices"
    with pytest.raises(ProviderUnavailable, match="no choices"):
        complete(OpenAICompatible(server.base_url, "tiny"))


def test_unknown_path_404_is_rejected(server):
    with pytest.raises(ProviderRejected, match="HTTP 404"):
        complete(OpenAICompatible(server.url + "/wrong", "tiny"))


def test_connection_refused_raises_provider_unavailable():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProviderUnavailable, match="unreachable"):
        complete(OpenAICompatible(f"http://127.0.0.1:{port}/v1", "tiny"))


def test_api_key_never_appears_in_repr_or_error_messages(server):
    server.behaviour = "401"
    provider = OpenAICompatible(server.base_url, "tiny", api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(provider)
    with pytest.raises(ProviderRejected) as info:
        complete(provider)
    assert "sk-very-secret" not in str(info.value)


def test_injected_client_is_used(server):
    seen = []
    client = httpx.Client(event_hooks={"request": [lambda request: seen.append(str(request.url))]})
    complete(OpenAICompatible(server.base_url, "tiny", http=client))
    assert seen == [server.base_url + "/chat/completions"]


def test_a_dripping_upstream_is_cut_off_at_the_total_timeout(server):
    """httpx times each read separately: one byte a second never trips a 2 s read timeout. The adapter
    bounds the whole call."""
    import time

    server.behaviour, server.drip_s = "drip", 0.5
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        complete(OpenAICompatible(server.base_url, "tiny", timeout_s=1.5))
    assert time.monotonic() - started < 2.5


def test_the_requests_deadline_bounds_the_call_and_is_not_retryable(server):
    import time

    from switchboard.ports import DeadlineExceeded

    server.behaviour, server.delay_s = "slow", 5
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        complete(OpenAICompatible(server.base_url, "tiny", timeout_s=30), deadline=time.time() + 0.8)
    assert time.monotonic() - started < 1.8
    with pytest.raises(DeadlineExceeded):  # a deadline already past: no call at all
        complete(OpenAICompatible(server.base_url, "tiny"), deadline=time.time() - 1)


def test_an_upstream_that_echoes_the_key_leaks_it_nowhere(server, caplog):
    server.behaviour = "echo_auth"
    provider = OpenAICompatible(server.base_url, "tiny", api_key="sk-live-abcdefghijklmnop")
    with caplog.at_level("WARNING"), pytest.raises(ProviderRejected) as info:
        complete(provider)
    message = str(info.value)
    assert "sk-live-abcdefghijklmnop" not in message and "127.0.0.1" not in message and "HTTP 401" in message
    assert server.requests[-1].headers["authorization"] == "Bearer sk-live-abcdefghijklmnop"  # it was sent
    assert "sk-live-abcdefghijklmnop" not in caplog.text and "invalid credentials" in caplog.text  # logged, redacted


@pytest.mark.parametrize("behaviour", ["500", "malformed", "no_choices"])
def test_error_messages_carry_no_upstream_body_or_url(server, behaviour):
    server.behaviour = behaviour
    with pytest.raises(ProviderUnavailable) as info:
        complete(OpenAICompatible(server.base_url, "tiny"))
    assert "fake error" not in str(info.value) and "not json" not in str(info.value)
    assert server.base_url not in str(info.value) and "tiny" in str(info.value)


def test_a_response_format_is_sent_as_given_and_token_log_probabilities_are_read(server):
    fmt = {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}
    complete(OpenAICompatible(server.base_url, "tiny"), response_format=fmt)
    [request] = server.requests
    assert request.body["response_format"] == fmt


def test_a_streamed_answer_is_handed_out_a_piece_at_a_time_and_assembled(server):
    server.reply = "The answer is four."
    pieces: list[str] = []
    completion = complete(OpenAICompatible(server.base_url, "tiny"), on_delta=pieces.append)
    assert pieces == ["The ", "answer ", "is ", "four."] and completion.text == "The answer is four."
    assert completion.finish_reason == "stop" and completion.output_tokens >= 1
    [request] = server.requests
    assert request.body["stream"] is True and request.body["stream_options"] == {"include_usage": True}


def test_a_stream_cut_mid_answer_is_a_provider_failure_not_a_short_answer(server):
    server.reply, server.behaviour = "The answer is four.", "cut_stream"
    pieces: list[str] = []
    with pytest.raises(ProviderUnavailable, match="stream"):
        complete(OpenAICompatible(server.base_url, "tiny"), on_delta=pieces.append)
    assert pieces == ["The ", "answer "]


def test_a_stream_refused_with_an_error_status_is_mapped_like_any_call(server):
    server.behaviour = "429"
    with pytest.raises(ProviderUnavailable, match="HTTP 429"):
        complete(OpenAICompatible(server.base_url, "tiny"), on_delta=lambda text: None)
