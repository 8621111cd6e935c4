"""The answers' own signals for training and replaying a verifier that reads them
(``domain.answer_features``): the answers' embeddings (cached on disk like the prompts'), their token
log-probabilities where the data records them, the fitted projection of the embeddings, and the replay's
encoder (a lookup of those same vectors, so the engine's per-prompt code reads what the batch read).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from switchboard.domain.answer_features import AnswerSignals, Embed, Projection, answer_text
from switchboard.domain.taxonomy import routing_text
from switchboard.offline.embeddings import Encoder, embed_texts
from switchboard.offline.outcomes import RecordedOutcomes

PCA_SAMPLE = 20000  # answers the projection is fitted on (a seeded sample: PCA's directions settle long before)


def has_text(responses: np.ndarray) -> np.ndarray:
    """(n, k) bool: which recorded answers have any text (some data keeps only the extracted letter)."""
    return np.vectorize(lambda r: bool(str(r or "").strip()), otypes=[bool])(responses)


def embed_answers(responses: np.ndarray, encoder: Encoder | None = None, cache_dir: str | Path | None = None,
                  progress: bool = True) -> np.ndarray:
    """(n, k, D) float32: each recorded answer's ``answer_text`` embedded (zero where it has no text),
    through the embedding cache: each distinct text is embedded once, ever."""
    present = has_text(responses)
    texts = [answer_text(str(responses[i, j])) for i, j in zip(*np.nonzero(present), strict=True)]
    vectors = embed_texts(texts, encoder=encoder, cache_dir=cache_dir, progress=progress, desc="embedding answers")
    dim = vectors.shape[1] if len(texts) else 0
    out = np.zeros((*responses.shape, dim), dtype=np.float32)
    if len(texts):
        out[present] = vectors
    return out


def signals_of(data: RecordedOutcomes, questions: np.ndarray | None, answers: np.ndarray | None) -> AnswerSignals:
    """The signals of ``data``'s answers: the prompts' routing embeddings (``questions``, as the router
    embeds them), the answers' embeddings (``embed_answers``; None when no verifier reads them), which
    answers have text, and the recorded mean log-probabilities (NaN where the data has none)."""
    logprob = data.mean_logprob if data.mean_logprob is not None else np.full((data.n, data.k), np.nan)
    return AnswerSignals(question=questions, answers=answers, has_text=has_text(data.responses),
                         logprob=np.asarray(logprob, dtype=float))


def fit_projection(signals: AnswerSignals, dims: int, seed: int = 0) -> Projection | None:
    """PCA of the answers' embeddings (those with text; a seeded sample of at most ``PCA_SAMPLE``): the
    mean and the top ``dims`` directions. None when there are too few answers with text to fit it."""
    if signals.answers is None:
        return None
    vectors = signals.answers[signals.has_text.astype(bool)]
    if len(vectors) < max(2 * dims, 50):
        return None
    if len(vectors) > PCA_SAMPLE:
        vectors = vectors[np.random.default_rng(seed).choice(len(vectors), PCA_SAMPLE, replace=False)]
    x = np.asarray(vectors, dtype=np.float64)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    dims = min(dims, vt.shape[0])
    return Projection(mean=[round(float(v), 7) for v in mean],
                      components=[[round(float(v), 7) for v in row] for row in vt[:dims]])


def recorded_encoder(prompts: Sequence[str] | None, responses: np.ndarray | None,
                     signals: AnswerSignals | None) -> Embed:
    """The encoder of a replay: the recorded embedding of a prompt's routing text or of an answer's
    ``answer_text`` (the vectors the batch scored with), looked up by the text the decide task's code asks
    for; a text the replay does not hold is an error, never a silent zero."""
    if signals is None or signals.question is None or signals.answers is None or prompts is None \
            or responses is None:
        raise ValueError("a replay of a verifier that reads answer embeddings needs the prompts, the "
                         "responses and their embeddings")
    vectors: dict[str, np.ndarray] = {}
    for i, prompt in enumerate(prompts):
        vectors[routing_text(prompt)] = signals.question[i]
        for j, text in enumerate(responses[i]):
            if signals.has_text[i, j]:
                vectors[answer_text(str(text))] = signals.answers[i, j]

    def embed(text: str) -> np.ndarray:
        try:
            return vectors[text]
        except KeyError:
            raise KeyError(f"no recorded embedding of {text[:60]!r}") from None

    return embed
