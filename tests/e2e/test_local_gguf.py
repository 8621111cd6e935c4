"""The real Qwen2.5-Coder 0.5B run in-process through LocalGGUF (fetched by the model store if missing)."""

from __future__ import annotations

import time

import pytest

from switchboard.adapters.providers.gguf_store import ensure_model
from switchboard.adapters.providers.local_gguf import LocalGGUF, loaded_models
from switchboard.domain.requests import Message
from switchboard.ports import CompletionRequest, ProviderTimeout

pytestmark = pytest.mark.e2e

MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"
QUESTION = [Message(role="user", content="What is 2+2? Answer with a number.")]


@pytest.fixture(scope="module")
def qwen() -> LocalGGUF:
    provider = LocalGGUF(ensure_model(MODEL, progress=False), n_ctx=2048)
    provider.load()
    return provider


def test_greedy_answer_to_arithmetic_question_is_non_empty_and_contains_4(qwen):
    completion = qwen.complete(CompletionRequest(QUESTION, max_tokens=16, temperature=0.0))
    assert completion.text.strip()
    assert "4" in completion.text
    assert completion.input_tokens > 0 and 0 < completion.output_tokens <= 16
    assert completion.finish_reason in ("stop", "length")


def test_every_answer_carries_its_tokens_mean_log_probability(qwen):
    sure = qwen.complete(CompletionRequest(QUESTION, max_tokens=16, temperature=0.0))
    assert sure.mean_logprob is not None and -20.0 < sure.mean_logprob <= 0.0
    # a greedy answer to 2+2 is near-certain; a free story is not: the model's own confidence separates them
    story = qwen.complete(CompletionRequest([Message(role="user", content="Invent the name of a fictional island.")],
                          max_tokens=16, temperature=1.0, seed=3))
    assert story.mean_logprob is not None and story.mean_logprob < sure.mean_logprob


def test_same_seed_gives_same_answer_across_calls(qwen):
    story = [Message(role="user", content="Invent a one-sentence story about a robot.")]
    first = qwen.complete(CompletionRequest(story, max_tokens=16, temperature=0.9, seed=1234))
    second = qwen.complete(CompletionRequest(story, max_tokens=16, temperature=0.9, seed=1234))
    assert first.text and first.text == second.text


def test_greedy_answer_is_deterministic_with_seed_and_temperature_zero(qwen):
    runs = {qwen.complete(CompletionRequest(QUESTION, max_tokens=16, temperature=0.0, seed=7)).text for _ in range(2)}
    assert len(runs) == 1


def test_max_tokens_caps_the_output_and_reports_length(qwen):
    essay = [Message(role="user", content="Write a long essay about the history of computing.")]
    completion = qwen.complete(CompletionRequest(essay, max_tokens=5, temperature=0.0))
    assert completion.output_tokens == 5 and completion.finish_reason == "length"


def test_model_is_loaded_once_per_process(qwen):
    again = LocalGGUF(qwen.model_path, n_ctx=2048)
    started = time.perf_counter()
    again.load()
    assert time.perf_counter() - started < 0.1
    assert str(qwen.model_path) in loaded_models()


def test_generation_past_its_deadline_raises_provider_timeout(qwen):
    hurried = LocalGGUF(qwen.model_path, n_ctx=2048, timeout_s=0.05)
    essay = [Message(role="user", content="Write a long essay about the history of computing.")]
    with pytest.raises(ProviderTimeout):
        hurried.complete(CompletionRequest(essay, max_tokens=200, temperature=0.0))


def test_a_json_schema_response_format_constrains_the_local_model_to_valid_json(qwen):
    import json

    schema = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
              "required": ["city", "country"], "additionalProperties": False}
    completion = qwen.complete(CompletionRequest([Message(role="user", content="Name the capital of France as JSON.")],
                               max_tokens=48, temperature=0.0,
                               response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema}}))
    value = json.loads(completion.text)
    assert set(value) == {"city", "country"} and all(isinstance(v, str) for v in value.values())
