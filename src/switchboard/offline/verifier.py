"""The learned verifier: training rows from recorded outcomes, the model, and fusion over a batch.

``LearnedVerifier`` predicts P(candidate answer correct) from features of the prompt and of the answers
bought so far (``switchboard.domain.fusion.verifier_features``): which models gave the candidate answer
and which contradicted it, the learned router's per-model P(correct) for the prompt, the response length.
It is exported to ONNX (``offline.artifacts``) and costs nothing at request time (microseconds of CPU).
Over several answers it is EMAFusion's fusion step: the returned answer is the candidate it scores
highest. Labels (``correct``) enter only ``LearnedVerifier.fit`` and ``training_rows``.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from switchboard.domain.fusion import Fused, enumerate_candidates, pick_best, verifier_features


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
                 seed: int = 0) -> None:
        self.params = dict(max_iter=max_iter, learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes,
                           l2_regularization=1.0, min_samples_leaf=40, random_state=seed)
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


def training_rows(answer_ids: np.ndarray, correct: np.ndarray, router_p: np.ndarray, resp_len: np.ndarray,
                  per_prompt: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and prompt index of verifier training rows (label = the representative's
    recorded ``correct``; ungraded representatives are left out)."""
    rng = np.random.default_rng(seed)
    n, k = answer_ids.shape
    prompt, called = sample_called_sets(n, k, per_prompt, rng)
    cand = enumerate_candidates(answer_ids[prompt], called, router_p[prompt])
    X = verifier_features(answer_ids[prompt], called, router_p[prompt], resp_len[prompt], cand)
    y = correct[prompt[cand.situation], cand.rep]
    keep = ~np.isnan(y)
    return X[keep], y[keep], prompt[cand.situation][keep]


def fuse(answer_ids: np.ndarray, called: np.ndarray, router_p: np.ndarray, resp_len: np.ndarray,
         predict) -> list[Fused]:  # noqa: ANN001 - predict: features -> P(correct)
    """For each situation, the candidate the verifier scores highest (EMAFusion-style weighted vote)."""
    cand = enumerate_candidates(answer_ids, called, router_p)
    scores = predict(verifier_features(answer_ids, called, router_p, resp_len, cand))
    best = pick_best(cand.situation, scores, answer_ids.shape[0])
    n_called = called.sum(axis=1)
    return [Fused(int(cand.answer[row]), int(cand.rep[row]), float(scores[row]), int(n_called[s]))
            for s, row in enumerate(best)]
