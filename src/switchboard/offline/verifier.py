"""The learned verifier: training rows from recorded outcomes, the model, and fusion over a batch.

``LearnedVerifier`` predicts P(candidate answer correct) from features of the prompt and of the answers
bought so far (``switchboard.domain.fusion.verifier_features``): which models gave the candidate answer
and which contradicted it, the learned router's per-model P(correct) for the prompt, the response length;
and, when it was trained with them, features of the representative answer itself
(``domain.answer_features``: its embedding, its token log-probability).
It is exported to ONNX (``offline.artifacts``) and costs nothing at request time (microseconds of CPU).
Over several answers it is EMAFusion's fusion step: the returned answer is the candidate it scores
highest. Labels (``correct``) enter only ``LearnedVerifier.fit`` and ``training_rows``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from switchboard.domain.answer_features import NO_ANSWER_FEATURES, AnswerFeatures
from switchboard.domain.fusion import Fused, Scorer, enumerate_candidates, pick_best, verifier_features


def sample_called_sets(n: int, k: int, per_prompt: int, rng: np.random.Generator,
                       include_singletons: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Training situations: every single model, plus ``per_prompt`` random subsets of random size per
    prompt (the cascades call prefixes of many different orders). Returns (prompt index, called mask)."""
    prompt, masks = [], []
    if include_singletons:
        for j in range(k):
            m = np.zeros((n, k), dtype=bool)
            m[:, j] = True
            prompt.append(np.arange(n))
            masks.append(m)
    for _ in range(per_prompt):
        size = rng.integers(2, k + 1, size=n)
        keys = rng.random((n, k))
        ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
        prompt.append(np.arange(n))
        masks.append(ranks < size[:, None])
    return np.concatenate(prompt), np.concatenate(masks)


class LearnedVerifier:
    """P(candidate answer correct | prompt and answer features). Gradient-boosted trees (sklearn's
    histogram GBDT), exported to ONNX with ``verifier_to_onnx``."""

    def __init__(self, max_iter: int = 250, learning_rate: float = 0.06, max_leaf_nodes: int = 31,
                 seed: int = 0, answer_features: AnswerFeatures = NO_ANSWER_FEATURES) -> None:
        self.params = dict(max_iter=max_iter, learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes,
                           l2_regularization=1.0, min_samples_leaf=40, random_state=seed)
        self.answer_features = answer_features  # which answer features its rows carry (after the agreement ones)
        self.model: Any = None  # sklearn's HistGradientBoostingClassifier once fitted

    def fit(self, X: np.ndarray, y: np.ndarray) -> LearnedVerifier:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.model = HistGradientBoostingClassifier(**self.params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(X, y.astype(int))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0)
        return self.model.predict_proba(X)[:, 1]


@dataclass
class TrainingRows:
    """Verifier training rows: agreement features ``X``, labels ``y``, and per row its prompt and its
    representative model (so the answer features of any ``AnswerFeatures`` can be appended:
    ``with_answers``)."""

    X: np.ndarray
    y: np.ndarray
    prompt: np.ndarray
    rep: np.ndarray

    def with_answers(self, block: np.ndarray) -> np.ndarray:
        """``X`` with each row's representative answer features appended (``block``: (n, k, m) per
        training prompt and model, ``answer_features.answer_block``)."""
        if not block.shape[-1]:
            return self.X
        return np.column_stack([self.X, block[self.prompt, self.rep]])


def training_rows(answer_ids: np.ndarray, correct: np.ndarray, router_p: np.ndarray, resp_len: np.ndarray,
                  per_prompt: int = 10, seed: int = 0) -> TrainingRows:
    """Agreement features, labels, prompt and representative of verifier training rows (label = the
    representative's recorded ``correct``; ungraded representatives are left out)."""
    rng = np.random.default_rng(seed)
    n, k = answer_ids.shape
    prompt, called = sample_called_sets(n, k, per_prompt, rng)
    cand = enumerate_candidates(answer_ids[prompt], called, router_p[prompt])
    X = verifier_features(answer_ids[prompt], called, router_p[prompt], resp_len[prompt], cand)
    y = correct[prompt[cand.situation], cand.rep]
    keep = ~np.isnan(y)
    return TrainingRows(X[keep], y[keep], prompt[cand.situation][keep], cand.rep[keep])


def fuse(answer_ids: np.ndarray, called: np.ndarray, router_p: np.ndarray, resp_len: np.ndarray,
         verifier: Scorer, block: np.ndarray | None = None) -> list[Fused]:
    """For each situation, the candidate the verifier scores highest (EMAFusion-style weighted vote);
    ``block`` (s, k, m): the answers' own features, for a verifier that reads them."""
    cand = enumerate_candidates(answer_ids, called, router_p)
    scores = verifier.predict(verifier_features(answer_ids, called, router_p, resp_len, cand, block))
    best = pick_best(cand.situation, scores, answer_ids.shape[0])
    n_called = called.sum(axis=1)
    return [Fused(int(cand.answer[row]), int(cand.rep[row]), float(scores[row]), int(n_called[s]))
            for s, row in enumerate(best)]
