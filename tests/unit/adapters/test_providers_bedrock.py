"""BedrockConverse with botocore's Stubber: the Converse request it sends and how failures are mapped."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from switchboard.adapters.providers.bedrock import BedrockConverse
from switchboard.domain.requests import Message
from switchboard.ports import CompletionRequest, ProviderRejected, ProviderTimeout, ProviderUnavailable

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [Message(role="system", content="Be terse."), Message(role="user", content="What is 2+2?")]


@pytest.fixture
def client():
    return boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def ok_response(text: str = "4", stop: str = "end_turn") -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": 12, "outputTokens": 1, "totalTokens": 13},
        "metrics": {"latencyMs": 100},
    }


def test_system_goes_to_system_param_and_inference_config_is_set(client):
    expected = {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": "What is 2+2?"}]}],
        "system": [{"text": "Be terse."}],
        "inferenceConfig": {"maxTokens": 16, "temperature": 0.2},
    }
    with Stubber(client) as stub:
        stub.add_response("converse", ok_response(), expected)
        completion = BedrockConverse(MODEL, client=client).complete(CompletionRequest(MESSAGES, max_tokens=16, temperature=0.2))
        stub.assert_no_pending_responses()
    assert completion.text == "4"
    assert (completion.input_tokens, completion.output_tokens) == (12, 1)
    assert completion.finish_reason == "stop"


def test_no_system_message_omits_system_param_and_max_tokens_stop_is_length(client):
    expected = {"modelId": MODEL, "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                "inferenceConfig": {"maxTokens": 4, "temperature": 0.0}}
    with Stubber(client) as stub:
        stub.add_response("converse", ok_response("Hello", "max_tokens"), expected)
        completion = BedrockConverse(MODEL, client=client).complete(CompletionRequest([Message(role="user", content="hi")],
                                                                    max_tokens=4, temperature=0.0))
    assert completion.finish_reason == "length"


@pytest.mark.parametrize("code, status, error", [
    ("ThrottlingException", 429, ProviderUnavailable),
    ("ServiceUnavailableException", 503, ProviderUnavailable),
    ("InternalServerException", 500, ProviderUnavailable),
    ("ModelTimeoutException", 408, ProviderTimeout),
    ("ValidationException", 400, ProviderRejected),
    ("AccessDeniedException", 403, ProviderRejected),
    ("ResourceNotFoundException", 404, ProviderRejected),
])
def test_client_error_code_maps_to_provider_error_class(client, code, status, error):
    with Stubber(client) as stub:
        stub.add_client_error("converse", service_error_code=code, service_message="nope",
                              http_status_code=status)
        with pytest.raises(error, match=code):
            BedrockConverse(MODEL, client=client).complete(CompletionRequest(MESSAGES, max_tokens=16, temperature=0.0))


def test_read_timeout_raises_provider_timeout():
    class TimingOut:
        def converse(self, **kwargs):
            raise ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")

    with pytest.raises(ProviderTimeout):
        BedrockConverse(MODEL, client=TimingOut()).complete(CompletionRequest(MESSAGES, max_tokens=16, temperature=0.0))


def test_response_without_output_message_raises_provider_unavailable():
    class Empty:
        def converse(self, **kwargs):
            return {"stopReason": "end_turn", "usage": {}}

    with pytest.raises(ProviderUnavailable, match="no output message"):
        BedrockConverse(MODEL, client=Empty()).complete(CompletionRequest(MESSAGES, max_tokens=16, temperature=0.0))


class _StreamingClient:
    """A bedrock-runtime client whose ConverseStream yields the given events (botocore's Stubber cannot
    stub an event stream)."""

    def __init__(self, events):
        self.events, self.requests = events, []

    def converse_stream(self, **request):
        self.requests.append(request)
        return {"stream": iter(self.events)}


def test_a_streamed_answer_is_handed_out_piece_by_piece_and_assembled():
    client = _StreamingClient([{"messageStart": {"role": "assistant"}},
                               {"contentBlockDelta": {"delta": {"text": "Par"}, "contentBlockIndex": 0}},
                               {"contentBlockDelta": {"delta": {"text": "is."}, "contentBlockIndex": 0}},
                               {"contentBlockStop": {"contentBlockIndex": 0}},
                               {"messageStop": {"stopReason": "end_turn"}},
                               {"metadata": {"usage": {"inputTokens": 9, "outputTokens": 3}}}])
    pieces: list[str] = []
    completion = BedrockConverse("amazon.nova-micro-v1:0", client=client).complete(CompletionRequest(
        [Message(role="user", content="Capital of France?")], max_tokens=8, temperature=0.0, on_delta=pieces.append))
    assert pieces == ["Par", "is."] and completion.text == "Paris." and completion.finish_reason == "stop"
    assert (completion.input_tokens, completion.output_tokens) == (9, 3)
    assert client.requests[0]["modelId"] == "amazon.nova-micro-v1:0"


@pytest.mark.parametrize("events", [
    [{"contentBlockDelta": {"delta": {"text": "Par"}}}],  # cut before its stop reason
    [{"contentBlockDelta": {"delta": {"text": "Par"}}}, {"modelStreamErrorException": {"message": "boom"}}],
])
def test_a_stream_that_breaks_is_a_provider_failure_not_a_short_answer(events):
    with pytest.raises(ProviderUnavailable, match="stream"):
        BedrockConverse("m", client=_StreamingClient(events)).complete(CompletionRequest(
            [Message(role="user", content="q")], max_tokens=8, temperature=0.0, on_delta=lambda text: None))
