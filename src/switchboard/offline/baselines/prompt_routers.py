"""The baselines' routers, reimplemented on Switchboard's prompt embeddings: RouterBench's kNN router,
RouteLLM's matrix-factorisation router and its BERT-style classifier (a logistic head per model on the
frozen embedding instead of a fine-tuned BERT). Each exposes ``fit(E, correct)`` and ``predict(E) -> (n, k)``.
"""

from __future__ import annotations

import numpy as np

from switchboard.offline.routing_fit import fill_labels, nanmean_or


class KnnRouter:
    """RouterBench's kNN router: P(correct) of each model = its mean correctness over the k nearest
    training prompts (cosine similarity of the embeddings)."""

    def __init__(self, k: int = 40) -> None:
        self.k = k

    def fit(self, embeddings: np.ndarray, correct: np.ndarray) -> KnnRouter:
        self.E = np.asarray(embeddings, dtype=np.float32)
        self.Y = fill_labels(correct)
        return self

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        out = np.empty((len(embeddings), self.Y.shape[1]))
        k = min(self.k, len(self.E))
        for start in range(0, len(embeddings), 512):
            sims = np.asarray(embeddings[start:start + 512], dtype=np.float32) @ self.E.T
            nn = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            out[start:start + 512] = self.Y[nn].mean(axis=1)
        return out


class MatrixFactorizationRouter:
    """RouteLLM's matrix-factorisation router, reimplemented for k models on the same embeddings:
    score(q, m) = <v_m, W q> + b_m, P(correct) = sigmoid(score), trained by Adam on the logistic loss
    with L2 (RouteLLM projects a text embedding with W and learns a model embedding v_m)."""

    def __init__(self, dim: int = 32, epochs: int = 200, lr: float = 0.01, l2: float = 1e-3, seed: int = 0) -> None:
        self.dim, self.epochs, self.lr, self.l2, self.seed = dim, epochs, lr, l2, seed

    def fit(self, embeddings: np.ndarray, correct: np.ndarray) -> MatrixFactorizationRouter:
        rng = np.random.default_rng(self.seed)
        X = np.asarray(embeddings, dtype=np.float64)
        mask = ~np.isnan(correct)
        Y = np.where(mask, correct, 0.0)
        n, d = X.shape
        k = correct.shape[1]
        W = rng.normal(0, 0.1, (d, self.dim))
        V = rng.normal(0, 0.1, (k, self.dim))
        prior = np.clip(nanmean_or(correct), 1e-3, 1 - 1e-3)
        b = np.log(prior / (1 - prior))
        params = [W, V, b]
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        for t in range(1, self.epochs + 1):  # full-batch Adam: n is a few thousand
            Q = X @ W
            S = Q @ V.T + b
            P = 1 / (1 + np.exp(-S))
            G = (P - Y) * mask / max(1, mask.sum())
            gV = G.T @ Q + self.l2 * V
            gW = X.T @ (G @ V) + self.l2 * W
            gb = G.sum(axis=0)
            for i, g in enumerate((gW, gV, gb)):
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                params[i] -= self.lr * (m[i] / (1 - 0.9 ** t)) / (np.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8)
        self.W, self.V, self.b = params
        return self

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        S = (np.asarray(embeddings, dtype=np.float64) @ self.W) @ self.V.T + self.b
        return 1 / (1 + np.exp(-S))


class BertStyleRouter:
    """RouteLLM's BERT classifier, reimplemented as a logistic-regression head per model on the frozen
    MiniLM sentence embedding (the same embedding every router here uses)."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, embeddings: np.ndarray, correct: np.ndarray) -> BertStyleRouter:
        from sklearn.linear_model import LogisticRegression

        y = np.rint(fill_labels(correct)).astype(int)
        self.heads = []
        for j in range(y.shape[1]):
            if len(set(y[:, j])) < 2:
                self.heads.append(float(y[0, j]))
                continue
            self.heads.append(LogisticRegression(C=self.C, max_iter=500).fit(embeddings, y[:, j]))
        return self

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        cols = [np.full(len(embeddings), h) if isinstance(h, float) else h.predict_proba(embeddings)[:, 1]
                for h in self.heads]
        return np.column_stack(cols)
