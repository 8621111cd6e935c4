"""The router embeds exactly the text training embedded: ``routing_text`` of the last user message."""

from __future__ import annotations

import numpy as np

from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.taxonomy import ROUTING_TEXT_CHARS, routing_text
from switchboard.offline import embeddings
from switchboard.service.router import RouterService
from tests.support.fakes import InMemoryCatalog, InMemoryTaxonomy, InMemoryTraces, catalog_entry


def test_short_prompt_is_embedded_whole():
    assert routing_text("What is 2+2?") == "What is 2+2?"


def test_long_few_shot_prompt_keeps_the_question_at_its_tail_from_a_paragraph_break():
    shots = "\n\n".join(f"Example {i}: question and worked answer." * 5 for i in range(40))
    prompt = shots + "\n\nQuestion: which option completes the sentence?"
    text = routing_text(prompt)
    assert len(text) <= ROUTING_TEXT_CHARS
    assert text.endswith("which option completes the sentence?")
    assert not text.startswith("xample")  # cut at a paragraph break, not mid-word


def test_offline_embeddings_use_the_domain_definition():
    assert embeddings.routing_text is routing_text


class RecordingEncoder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed_one(self, text: str) -> np.ndarray:
        self.seen.append(text)
        return np.ones(4, dtype=np.float32) / 2.0


def test_router_service_embeds_the_routing_text_of_a_long_prompt_not_the_whole_prompt():
    encoder = RecordingEncoder()
    svc = RouterService(catalog=InMemoryCatalog([catalog_entry("m", price=0.1)]), taxonomy=InMemoryTaxonomy([]),
                        orchestrator=None, traces=InMemoryTraces(), encoder_factory=lambda: encoder)
    prompt = "Shared few-shot preamble. " * 200 + "\n\nThe actual question?"
    svc.plan(ChatRequest(messages=[Message(role="user", content=prompt)]))
    assert encoder.seen == [routing_text(prompt)]
    assert encoder.seen[0] != prompt
