"""The router embeds exactly the text training embedded: ``routing_text`` of the last user message."""

from __future__ import annotations

import numpy as np

from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.taxonomy import ROUTING_TEXT_CHARS, routing_text
from switchboard.offline import embeddings
from tests.support.builder import build_services
from tests.support.fakes import catalog_entry


def test_short_prompt_is_embedded_whole():
    assert routing_text("What is 2+2?") == "What is 2+2?"


def test_long_few_shot_prompt_keeps_the_question_at_its_tail_from_a_paragraph_break():
    shots = "\n\n".join(f"Example {i}: question and worked answer." * 5 for i in range(40))
    prompt = shots + "\n\nQuestion: which option completes the sentence?"
    text = routing_text(prompt)
    assert len(text) <= ROUTING_TEXT_CHARS
    assert text.endswith("which option completes the sentence?")
    assert not text.startswith("xample")  # cut at a paragraph break, not mid-word


def test_training_embeds_the_routing_text_the_router_embeds(tmp_path):
    """Training embeds what the router embeds: ``offline.embeddings.embed_prompts`` feeds the encoder the
    routing text of each prompt (a long few-shot prompt: its tail), not the whole prompt."""
    encoder = RecordingEncoder()
    prompt = "Shared few-shot preamble. " * 200 + "\n\nThe actual question?"
    embeddings.embed_prompts([prompt, "short"], encoder=encoder, cache_dir=tmp_path, progress=False)
    assert sorted(encoder.seen) == sorted([routing_text(prompt), "short"])


class RecordingEncoder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed_one(self, text: str) -> np.ndarray:
        self.seen.append(text)
        return np.ones(4, dtype=np.float32) / 2.0

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.embed_one(t) for t in texts])


def test_router_service_embeds_the_routing_text_of_a_long_prompt_not_the_whole_prompt():
    encoder = RecordingEncoder()
    svc = build_services([catalog_entry("m", price=0.1)], encoder=lambda: encoder).planner
    prompt = "Shared few-shot preamble. " * 200 + "\n\nThe actual question?"
    svc.plan(ChatRequest(messages=[Message(role="user", content=prompt)]))
    assert encoder.seen == [routing_text(prompt)]
    assert encoder.seen[0] != prompt
