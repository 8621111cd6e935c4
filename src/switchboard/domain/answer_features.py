"""What the learned verifier reads of an answer itself, beyond who agreed with whom. Pure numpy, shared
by training (``switchboard.offline``) and the request path's decide task.

The agreement features (``domain.fusion``) say which models gave the candidate answer; these say
something of the answer's text and of how sure its model was:

- ``embedding``: the sentence encoder's embedding of the answer (``answer_text``: its tail, where a
  rationale ends in its conclusion), reduced by a fitted projection (``Projection``, PCA fitted on
  training answers), with the cosine similarity between the question's routing embedding and the
  answer's, and whether the answer has any text at all (some recorded data keeps only the extracted
  letter);
- ``logprob``: the answer's mean token log-probability, where its provider returned one (the
  ``confidence`` judge's input), NaN where not - the trees send missing values down a learned branch -
  with an indicator.

A verifier names the features it reads in an ``AnswerFeatures``; training and the decide task both build
them with ``answer_block`` from ``AnswerSignals`` (per prompt and model: the vectors and log-probabilities),
so a number measured offline is what the request path computes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .taxonomy import routing_text

ANSWER_TEXT_CHARS = 500  # about 120 tokens: the conclusion and the step before it
Embed = Callable[[str], np.ndarray]  # text -> unit vector (the sentence encoder)


def answer_text(text: str) -> str:
    """The part of an answer the encoder embeds: the whole answer when short, else its tail - a rationale
    ends in its conclusion, and the encoder keeps only its first 256 tokens (the rule of ``routing_text``)."""
    return routing_text(text.strip(), ANSWER_TEXT_CHARS)


class Projection(BaseModel):
    """A fitted linear reduction of answer embeddings: ``(x - mean) @ components.T`` (PCA's top
    directions of training answers). Computed in float64 and returned as float32, so the same vectors
    give the same features whatever the batch they are projected in."""

    model_config = ConfigDict(frozen=True)

    mean: list[float]
    components: list[list[float]] = Field(min_length=1)  # (d, D)

    @property
    def dims(self) -> int:
        return len(self.components)

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """(..., D) embeddings -> (..., d) projected features."""
        mean, comps = np.asarray(self.mean, dtype=np.float64), np.asarray(self.components, dtype=np.float64)
        x = np.asarray(vectors, dtype=np.float32).astype(np.float64)
        return ((x - mean) @ comps.T).astype(np.float32)


class AnswerFeatures(BaseModel):
    """Which features of the answer a verifier reads (none: the agreement features only). Part of the
    verifier's description (``verifier.json`` and the ONNX graph's metadata), so a verifier whose inputs
    differ is a different verifier."""

    model_config = ConfigDict(frozen=True)

    embedding: Projection | None = None
    logprob: bool = False

    @property
    def enabled(self) -> bool:
        return self.embedding is not None or self.logprob

    def groups(self) -> list[str]:
        """The feature groups, as reports name them (``embedding:16``, ``logprob``)."""
        out = [f"embedding:{self.embedding.dims}"] if self.embedding is not None else []
        return out + (["logprob"] if self.logprob else [])

    def names(self) -> list[str]:
        out: list[str] = []
        if self.embedding is not None:
            out += [f"answer_pc{i}" for i in range(self.embedding.dims)] + ["answer_question_cos", "answer_has_text"]
        if self.logprob:
            out += ["answer_mean_logprob", "answer_has_logprob"]
        return out


NO_ANSWER_FEATURES = AnswerFeatures()


@dataclass
class AnswerSignals:
    """What the answer features are computed from, for ``n`` prompts and ``k`` models: the prompts'
    routing embeddings (n, D), the answers' embeddings (n, k, D; zero where there is no text), whether
    an answer has text (n, k), and each answer's mean token log-probability (n, k; NaN: not given).
    The embeddings may be None when no verifier that reads them is trained or run."""

    question: np.ndarray | None
    answers: np.ndarray | None
    has_text: np.ndarray
    logprob: np.ndarray

    @property
    def n(self) -> int:
        return self.has_text.shape[0]

    def rows(self, idx: np.ndarray | Sequence[int]) -> AnswerSignals:
        idx = np.asarray(idx, dtype=int)
        return AnswerSignals(None if self.question is None else self.question[idx],
                             None if self.answers is None else self.answers[idx], self.has_text[idx],
                             self.logprob[idx])


def answer_block(features: AnswerFeatures, signals: AnswerSignals | None, n: int, k: int) -> np.ndarray:
    """The answer features of every (prompt, model): (n, k, m) float32, columns in ``features.names()``
    order (m = 0 when the verifier reads none)."""
    columns: list[np.ndarray] = []
    if features.enabled and signals is None:
        raise ValueError("this verifier reads answer features: give the answers' signals")
    if features.embedding is not None:
        assert signals is not None
        if signals.answers is None or signals.question is None:
            raise ValueError("this verifier reads answer embeddings: embed the answers and the prompts")
        if signals.question.shape[-1] != signals.answers.shape[-1] or \
                signals.answers.shape[-1] != len(features.embedding.mean):
            raise ValueError(f"answer embeddings of {signals.answers.shape[-1]} dimensions, prompt embeddings of "
                             f"{signals.question.shape[-1]}, a projection of {len(features.embedding.mean)}: "
                             "embed prompts and answers with the encoder the verifier was trained with")
        has = signals.has_text.astype(bool)
        projected = features.embedding.apply(signals.answers) * has[..., None]
        q = np.asarray(signals.question, dtype=np.float32).astype(np.float64)
        a = np.asarray(signals.answers, dtype=np.float32).astype(np.float64)
        cos = np.where(has, np.einsum("nd,nkd->nk", q, a), 0.0)
        columns += [projected, cos[..., None], has[..., None]]
    if features.logprob:
        assert signals is not None
        lp = np.asarray(signals.logprob, dtype=np.float64)
        columns += [lp[..., None], (~np.isnan(lp))[..., None]]
    if not columns:
        return np.zeros((n, k, 0), dtype=np.float32)
    return np.concatenate([np.asarray(c, dtype=np.float32) for c in columns], axis=2)


def request_signals(features: AnswerFeatures, prompt: str, texts: Sequence[str | None],
                    logprobs: Sequence[float | None], embed: Embed | None) -> AnswerSignals:
    """One request's signals (n = 1), as the decide task has them: the text and mean log-probability of
    each model's answer (None: not bought, or not among the answers being fused). Only what
    ``features`` reads is embedded: the prompt's routing text and each answer's ``answer_text``."""
    k = len(texts)
    has = np.asarray([[bool(t and t.strip()) for t in texts]])
    lp = np.asarray([[np.nan if v is None else float(v) for v in logprobs]], dtype=np.float64)
    question = answers = None
    if features.embedding is not None:
        if embed is None:
            raise ValueError("this verifier reads answer embeddings and no encoder is available")
        question = np.asarray(embed(routing_text(prompt)), dtype=np.float32).reshape(1, -1)
        dim = question.shape[1]
        answers = np.zeros((1, k, dim), dtype=np.float32)
        for j, text in enumerate(texts):
            if has[0, j]:
                answers[0, j] = np.asarray(embed(answer_text(str(text))), dtype=np.float32)
    return AnswerSignals(question, answers, has, lp)
