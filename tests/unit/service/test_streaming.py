"""``StreamService.stream`` written as OpenAI's server-sent events: tokens of a single-tier plan as they come, keep-alives while a cascade
works, and failures that are an HTTP error before the first event or an error event after it."""

from __future__ import annotations

import json
import time

import pytest

from switchboard.http.chat_completions import ChatCompletionRequest
from switchboard.http.sse import KEEP_ALIVE, chat_completion_events
from switchboard.ports import Completion, CompletionRequest, ProviderTimeout
from switchboard.service.assembly import Services
from switchboard.service.errors import CascadeFailed
from tests.support.builder import build_services
from tests.support.fakes import InMemoryTraces, ScriptedProviders, catalog_entry

ANSWER = "one two three"


class Streaming:
    """Answers ``ANSWER`` a word at a time (``on_delta``), judges say CORRECT; ``fail_after`` words it
    raises (0: before the first word), ``fail_times`` times in all."""

    def __init__(self, fail_after: int | None = None, fail_times: int = 1, pause: float = 0.0) -> None:
        self.fail_after, self.fail_times, self.pause, self.answers = fail_after, fail_times, pause, 0

    def complete(self, request: CompletionRequest) -> Completion:
        messages, on_delta = request.messages, request.on_delta
        time.sleep(self.pause)
        if "<<<ANSWER" in messages[-1].content:
            return Completion(text="VERDICT: CORRECT", input_tokens=50, output_tokens=4, finish_reason="stop")
        self.answers += 1
        words = ANSWER.split(" ")
        for i, word in enumerate(words):
            if self.fail_after is not None and i == self.fail_after and self.fail_times > 0:
                self.fail_times -= 1
                raise ProviderTimeout("the model stopped")
            if on_delta is not None:
                on_delta(word if i == len(words) - 1 else word + " ")
        return Completion(text=ANSWER, input_tokens=10, output_tokens=3, finish_reason="stop")


def _service(provider: Streaming, providers_for_router: bool = True, keys=None) -> tuple[Services, InMemoryTraces]:
    providers = ScriptedProviders({"small": provider, "big": provider})
    traces = InMemoryTraces()
    return build_services([catalog_entry("small", price=0.1), catalog_entry("big", price=1.0)], providers=providers,
                          traces=traces, keep_alive_s=0.05, stream_tokens=providers_for_router, keys=keys), traces


def chat_stream(services: Services, request: ChatCompletionRequest, authorization: str | None = None,
                live: bool = True):
    """What the chat completions endpoint streams: the caller authenticated, the command's events as SSE."""
    caller = services.admission.authenticate(authorization)
    events = services.streams.stream(request.command(caller, 32000), live=live)
    return chat_completion_events(events, include_usage=False)


def _request(model: str, **extra: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": model, "stream": True, "max_tokens": 8,
                                                 "messages": [{"role": "user", "content": "Count."}], **extra})


def _contents(events: list[str]) -> list[str]:
    out = []
    for event in events:
        for line in event.split("\n"):
            if line.startswith("data: {"):
                delta = (json.loads(line[6:]).get("choices") or [{}])[0].get("delta", {})
                if delta.get("content"):
                    out.append(delta["content"])
    return out


def test_a_pinned_model_streams_word_by_word_and_its_answer_is_judged_once_bought():
    provider = Streaming()
    service, traces = _service(provider)
    events = list(chat_stream(service, _request("big", switchboard={"verify": True})))
    assert _contents(events) == ["one ", "two ", "three"]
    final = next(json.loads(line[6:]) for e in events for line in e.split("\n")
                 if line.startswith("data: {") and '"finish_reason":"stop"' in line)
    sb = final["switchboard"]
    assert sb["route"] == "pinned" and sb["tiers"][0]["verdicts"] and events[-1].endswith("data: [DONE]\n\n")
    assert provider.answers == 1  # the streamed answer was judged as bought, not asked again
    [trace] = traces.items.values()
    assert trace.state.attempts[0].candidate.text == ANSWER and trace.state.spent_usd > 0


def test_a_model_failing_before_its_first_word_falls_through_to_the_cascade():
    service, _ = _service(Streaming(fail_after=0))
    events = list(chat_stream(service, _request("big")))
    assert "".join(_contents(events)) == ANSWER  # the cascade's own call answered


def test_a_model_failing_after_its_first_word_ends_the_stream_with_an_error_event():
    service, traces = _service(Streaming(fail_after=2))
    events = list(chat_stream(service, _request("big")))
    assert _contents(events) == ["one ", "two "]
    error = json.loads(events[-1].split("\n")[0][6:])
    assert "mid-stream" in error["error"]["message"] and events[-1].endswith("data: [DONE]\n\n")
    [trace] = traces.items.values()
    assert trace.status == "failed" and "mid-stream" in trace.error


def test_a_cascade_sends_keep_alives_while_it_works_then_the_decided_answer():
    service, _ = _service(Streaming(pause=0.1))
    events = list(chat_stream(service, _request("auto")))
    assert events[0] == KEEP_ALIVE and "".join(_contents(events)) == ANSWER
    assert list(chat_stream(service, _request("auto"), live=False))[0] != KEEP_ALIVE  # one body: no keep-alive


def test_a_cascade_that_fails_is_an_http_error_before_any_event_and_an_error_event_after_keep_alives():
    failing = Streaming(fail_after=0, fail_times=100)
    service, _ = _service(failing, providers_for_router=False)
    with pytest.raises(CascadeFailed):
        next(iter(chat_stream(service, _request("auto"), live=False)))
    failing.pause = 0.1
    events = list(chat_stream(service, _request("auto")))
    assert events[0] == KEEP_ALIVE and '"error"' in events[-2 if events[-1] == "data: [DONE]\n\n" else -1]


def test_a_refusal_while_the_stream_is_prepared_returns_the_keys_reservation():
    from switchboard.service.api_keys import KeyService, new_key
    from switchboard.service.errors import PromptTooLarge
    from tests.support.fakes import InMemoryKeys

    store = InMemoryKeys()
    secret, key = new_key("k", 1000.0)
    store.create(key)
    service, _ = _service(Streaming(), keys=KeyService(store, required=True))

    def too_large(request, plan, job=False, span=None):  # noqa: ANN001, ANN202 - what answer_bytes_cap raises for a huge state
        raise PromptTooLarge("the cascade state would be too large")

    service.runner.new_state = too_large  # type: ignore[method-assign]
    with pytest.raises(PromptTooLarge):
        chat_stream(service, _request("big"), f"Bearer {secret}")
    stored = store.get(key.key_hash)
    assert stored.available_usd == pytest.approx(1000.0) and stored.spent_usd == 0.0
