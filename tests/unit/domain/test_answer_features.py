"""The answers' own features for the learned verifier: one definition, computed alike for a batch of
recorded answers (training, the offline replay) and for one request (the decide task)."""

from __future__ import annotations

import numpy as np
import pytest

from switchboard.domain.answer_features import (
    ANSWER_TEXT_CHARS,
    NO_ANSWER_FEATURES,
    AnswerFeatures,
    AnswerSignals,
    Projection,
    answer_block,
    answer_text,
    request_signals,
)
from switchboard.domain.taxonomy import routing_text

DIM = 6


def _unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    x = rng.normal(size=(*shape, DIM))
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _projection(rng: np.random.Generator, dims: int = 3) -> Projection:
    return Projection(mean=rng.normal(size=DIM).tolist(), components=rng.normal(size=(dims, DIM)).tolist())


def test_answer_text_keeps_a_long_rationales_conclusion():
    reasoning = "\n\n".join(f"Step {i}: " + "some working " * 12 for i in range(30))
    text = f"  {reasoning}\n\nThe answer is (C).  "
    kept = answer_text(text)
    assert kept.endswith("The answer is (C).") and len(kept) <= ANSWER_TEXT_CHARS
    assert not kept.startswith("Step 0")
    assert answer_text(" The answer is (B). ") == "The answer is (B)."


def test_a_projection_gives_the_same_features_alone_and_in_a_batch():
    rng = np.random.default_rng(0)
    projection = _projection(rng, 4)
    batch = _unit(rng, 500)
    together = projection.apply(batch)
    alone = np.stack([projection.apply(v[None])[0] for v in batch[:20]])
    assert together.dtype == np.float32 and together.shape == (500, 4)
    assert np.array_equal(together[:20], alone)  # bit for bit: the verifier's trees see the same numbers
    expected = (batch.astype(np.float64) - np.asarray(projection.mean)) @ np.asarray(projection.components).T
    assert np.allclose(together, expected, atol=1e-6)


def test_the_block_follows_the_names_and_marks_what_is_missing():
    rng = np.random.default_rng(1)
    features = AnswerFeatures(embedding=_projection(rng, 3), logprob=True)
    n, k = 4, 3
    has = np.ones((n, k), dtype=bool)
    has[1, 2] = False
    logprob = rng.normal(-0.5, 0.2, size=(n, k))
    logprob[0, 1] = np.nan
    question, answers = _unit(rng, n), _unit(rng, n, k)
    answers[1, 2] = 0.0
    block = answer_block(features, AnswerSignals(question, answers, has, logprob), n, k)
    names = features.names()
    assert block.shape == (n, k, len(names)) and block.dtype == np.float32
    col = {name: i for i, name in enumerate(names)}
    assert block[2, 0, col["answer_question_cos"]] == pytest.approx(float(question[2] @ answers[2, 0]), abs=1e-6)
    assert block[1, 2, col["answer_has_text"]] == 0 and not block[1, 2, : col["answer_has_text"]].any()
    assert np.isnan(block[0, 1, col["answer_mean_logprob"]]) and block[0, 1, col["answer_has_logprob"]] == 0
    assert block[3, 2, col["answer_mean_logprob"]] == pytest.approx(logprob[3, 2], abs=1e-6)
    assert answer_block(NO_ANSWER_FEATURES, None, n, k).shape == (n, k, 0)
    assert features.groups() == ["embedding:3", "logprob"]
    with pytest.raises(ValueError, match="signals"):
        answer_block(features, None, n, k)


def test_one_requests_signals_give_the_batchs_features():
    """The decide task embeds the prompt's routing text and each fused answer's ``answer_text`` itself;
    with the same encoder that is the batch's row, number for number."""
    rng = np.random.default_rng(2)
    vectors: dict[str, np.ndarray] = {}

    def embed(text: str) -> np.ndarray:
        if text not in vectors:
            vectors[text] = _unit(rng, 1)[0]
        return vectors[text]

    features = AnswerFeatures(embedding=_projection(rng, 2), logprob=True)
    prompt = "Which option is right?\n(A) one (B) two"
    texts = ["Because of X. The answer is (A).", None, "", "It is B."]
    logprobs = [-0.2, None, -1.5, None]
    one = answer_block(features, request_signals(features, prompt, texts, logprobs, embed), 1, 4)[0]
    has = np.asarray([[True, False, False, True]])
    answers = np.zeros((1, 4, DIM), dtype=np.float32)
    answers[0, 0], answers[0, 3] = embed(answer_text(texts[0])), embed(answer_text(texts[3]))
    batch = answer_block(features, AnswerSignals(embed(routing_text(prompt))[None], answers, has,
                                                 np.asarray([[-0.2, np.nan, -1.5, np.nan]])), 1, 4)[0]
    assert np.array_equal(np.isnan(one), np.isnan(batch)) and np.array_equal(np.nan_to_num(one), np.nan_to_num(batch))
    only_logprob = AnswerFeatures(logprob=True)
    assert request_signals(only_logprob, prompt, texts, logprobs, None).answers is None  # nothing embedded
    with pytest.raises(ValueError, match="encoder"):
        request_signals(features, prompt, texts, logprobs, None)
