"""Cluster routing in the style of Avengers-Pro (Zhang et al., 2025, "Beyond GPT-5: making LLMs cheaper
and better via performance-efficiency optimized routing"), reimplemented on Switchboard's embeddings.

Training prompts are clustered with k-means over their (unit) embeddings. In each cluster every model gets
a performance (its accuracy on the cluster's training prompts) and an efficiency (its mean cost there),
each min-max normalised across the models of the cluster; a model's score is
``alpha * performance + (1 - alpha) * (1 - cost)``. A new prompt goes to its nearest cluster (cosine) and
is answered by the model with the highest score, one call. Sweeping ``alpha`` over a grid traces the
cost-accuracy curve.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

ALPHAS = tuple(float(a) for a in np.round(np.linspace(0.0, 1.0, 21), 2))


class ClusterRouter:
    """k-means clusters with each model's accuracy and cost per cluster (Avengers-Pro's routing table)."""

    def __init__(self, clusters: int = 60, seed: int = 0) -> None:
        self.clusters, self.seed = clusters, seed
        self.centroids: np.ndarray | None = None
        self.accuracy: np.ndarray | None = None
        self.cost: np.ndarray | None = None

    def fit(self, embeddings: np.ndarray, correct: np.ndarray, cost: np.ndarray) -> ClusterRouter:
        from sklearn.cluster import KMeans

        e = np.asarray(embeddings, dtype=np.float64)
        k = max(1, min(self.clusters, len(e) // 10))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            km = KMeans(n_clusters=k, n_init=4, random_state=self.seed).fit(e)
        centroids = km.cluster_centers_
        self.centroids = centroids / np.clip(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12, None)
        labels = km.labels_
        overall = np.nanmean(correct, axis=0)
        acc, cst = [], []
        for c in range(k):
            rows = labels == c
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                a = np.nanmean(correct[rows], axis=0) if rows.any() else overall
            acc.append(np.where(np.isnan(a), overall, a))
            cst.append(cost[rows].mean(axis=0) if rows.any() else cost.mean(axis=0))
        self.accuracy, self.cost = np.asarray(acc), np.asarray(cst)
        return self

    def assign(self, embeddings: np.ndarray) -> np.ndarray:
        assert self.centroids is not None, "fit first"
        return np.argmax(np.asarray(embeddings, dtype=np.float64) @ self.centroids.T, axis=1)

    def route(self, embeddings: np.ndarray, alpha: float) -> np.ndarray:
        """The chosen model of each prompt at trade-off ``alpha`` (1: performance only, 0: cost only)."""
        assert self.accuracy is not None and self.cost is not None, "fit first"
        perf, cost = _minmax(self.accuracy), _minmax(self.cost)
        score = alpha * perf + (1.0 - alpha) * (1.0 - cost)
        # per cluster, the best score; ties go to the cheaper model, then the more accurate one
        best = np.asarray([int(np.lexsort((-self.accuracy[c], self.cost[c], -score[c]))[0])
                           for c in range(len(score))])
        return best[self.assign(embeddings)]


def _minmax(x: np.ndarray) -> np.ndarray:
    lo = x.min(axis=-1, keepdims=True)
    span = x.max(axis=-1, keepdims=True) - lo
    return np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 0.5)


def sweep(router: ClusterRouter, embeddings: np.ndarray, alphas: Sequence[float] = ALPHAS
          ) -> list[tuple[float, np.ndarray]]:
    """(alpha, chosen model per prompt) for every alpha of the grid."""
    return [(alpha, router.route(embeddings, alpha)) for alpha in alphas]
