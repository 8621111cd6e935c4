"""Cascade routing in the style of Dekoninck, Baader and Vechev (ICML 2025, "A unified approach to routing
and cascading for LLMs"), reimplemented on Switchboard's embeddings, answers and recorded costs.

Routing and cascading in one rule. Every model m has a quality estimate: *ex ante* (before it runs) the
learned router's P(correct | prompt), *post hoc* (after it ran) a logistic model over that estimate and
how many of the answers bought so far agree with m's. A *supermodel* is a set of models; its quality is
the expected maximum of its members' qualities, each Gaussian around its estimate (wide for models not
run yet, narrow for those that ran), and its cost the expected cost of its members not run yet. At each
step the supermodel maximising ``quality - lambda * cost`` among the run models plus later models of the
cost order (at most ``max_depth`` models) is chosen; its first model not yet run is run next, and when it
adds none the cascade stops and returns the run model with the best post-hoc estimate. Sweeping
``lambda`` traces the cost-accuracy curve. As in the paper's implementation (``eth-sri/cascade-routing``),
models run in a fixed order (cheapest first) and the expected maximum is a Monte-Carlo mean over fixed
normal samples; lambda is one value for all steps rather than one fitted per step.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

LAMBDAS = (0.0, 0.003, 0.01, 0.02, 0.04, 0.07, 0.12, 0.2, 0.35, 0.6, 1.0, 2.0, 5.0)
SAMPLES = 64


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


def _agreement(answer_ids: np.ndarray, run: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (situation, model): the share of the *other* run models whose answer equals this model's, and
    how many other run models there are."""
    same = (answer_ids[:, :, None] == answer_ids[:, None, :]) & (answer_ids[:, :, None] >= 0)
    others = run[:, None, :] & ~np.eye(run.shape[1], dtype=bool)[None]
    n_others = others.sum(axis=2)
    agree = (same & others).sum(axis=2) / np.maximum(1, n_others)
    return agree, n_others


@dataclass
class Outcome:
    rep: np.ndarray
    cost: np.ndarray
    tiers_used: np.ndarray


class CascadeRouting:
    """Fit the post-hoc quality model and the estimates' spread on training prompts; run on new ones."""

    def __init__(self, max_depth: int = 3, samples: int = SAMPLES, seed: int = 0) -> None:
        self.max_depth, self.seed, self.samples = max_depth, seed, samples
        self.z: np.ndarray | None = None  # (samples, k) fixed standard normal draws
        self.order: np.ndarray | None = None
        self.mean_cost: np.ndarray | None = None
        self.sigma: np.ndarray | None = None
        self.post: Any = None  # sklearn LogisticRegression once fitted

    def _post_features(self, router_p: np.ndarray, answer_ids: np.ndarray, run: np.ndarray) -> np.ndarray:
        agree, n_others = _agreement(answer_ids, run)
        k = router_p.shape[1]
        rows = []
        for m in range(k):
            onehot = np.zeros((len(router_p), k))
            onehot[:, m] = 1.0
            rows.append(np.column_stack([_logit(router_p[:, m]), agree[:, m], n_others[:, m],
                                         (answer_ids[:, m] < 0).astype(float), onehot]))
        return np.stack(rows, axis=1)  # (n, k, F)

    def fit(self, answer_ids: np.ndarray, router_p: np.ndarray, correct: np.ndarray, cost: np.ndarray,
            sets_per_prompt: int = 4) -> CascadeRouting:
        """``router_p`` must be out-of-fold on the training prompts (not fitted on their labels)."""
        from sklearn.linear_model import LogisticRegression

        n, k = answer_ids.shape
        self.mean_cost = cost.mean(axis=0)
        self.order = np.argsort(self.mean_cost, kind="stable")
        self.z = np.random.default_rng(self.seed).standard_normal((self.samples, k))
        self._masks: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        rng = np.random.default_rng(self.seed)
        X, y, ex_ante, which = [], [], [], []
        for _ in range(sets_per_prompt):
            size = np.asarray(rng.integers(1, self.max_depth + 1, size=n))
            ranks = np.argsort(np.argsort(rng.random((n, k)), axis=1), axis=1)
            run = ranks < size[:, None]
            feats = self._post_features(router_p, answer_ids, run)
            ii, mm = np.nonzero(run & ~np.isnan(correct))
            X.append(feats[ii, mm])
            y.append(correct[ii, mm])
            ex_ante.append(router_p[ii, mm])
            which.append(mm)
        X_all, y_all = np.concatenate(X), np.concatenate(y).astype(int)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.post = LogisticRegression(C=1.0, max_iter=1000).fit(X_all, y_all)
        post = self.post.predict_proba(X_all)[:, 1]
        pre, mm_all = np.concatenate(ex_ante), np.concatenate(which)
        # how far a model's quality moves once it has run: the ex-ante estimate's spread
        self.sigma = np.asarray([np.std(post[mm_all == m] - pre[mm_all == m]) if (mm_all == m).any() else 0.2
                                 for m in range(k)])
        return self

    def _supermodels(self, last: int, run_count: int) -> tuple[np.ndarray, np.ndarray]:
        """The sets of not-yet-run models after position ``last`` of the cost order, up to the depth limit:
        (masks over models (S, k), position of each set's first model, -1 for the empty set)."""
        assert self.order is not None
        key = (last, run_count)
        if key not in self._masks:
            later = list(range(last + 1, len(self.order)))
            extras: list[tuple[int, ...]] = [()]
            for size in range(1, self.max_depth - run_count + 1):
                extras += list(itertools.combinations(later, size))
            masks = np.zeros((len(extras), len(self.order)), dtype=bool)
            for row, extra in enumerate(extras):
                masks[row, self.order[list(extra)]] = True
            first = np.asarray([extra[0] if extra else -1 for extra in extras])
            self._masks[key] = (masks, first)
        return self._masks[key]

    def run(self, answer_ids: np.ndarray, router_p: np.ndarray, cost: np.ndarray, lam: float) -> Outcome:
        """Cascade routing on new prompts at trade-off ``lam`` (accuracy per USD per 1,000 prompts)."""
        assert self.order is not None and self.mean_cost is not None and self.sigma is not None
        n, k = answer_ids.shape
        rep = np.zeros(n, dtype=int)
        spent = np.zeros(n)
        used = np.zeros(n, dtype=int)
        exp_cost = self.mean_cost * 1000
        for i in range(n):
            run = np.zeros(k, dtype=bool)
            last = -1  # position in the cost order of the last model run
            while True:
                if run.any():
                    feats = self._post_features(router_p[i:i + 1], answer_ids[i:i + 1], run[None])[0]
                    post = self.post.predict_proba(feats)[:, 1]  # type: ignore[attr-defined]
                else:
                    post = np.zeros(k)
                quality = np.where(run, post, router_p[i])
                sigma = np.where(run, 1e-3, self.sigma)
                draws = quality[None, :] + sigma[None, :] * self.z  # (samples, k)
                masks, first = self._supermodels(last, int(run.sum()))
                members = masks | run[None, :]
                expected_max = np.where(members[:, None, :], draws[None, :, :], -np.inf).max(axis=2).mean(axis=1)
                value = np.where(members.any(axis=1), expected_max - lam * (masks & ~run) @ exp_cost, -np.inf)
                best = int(np.argmax(np.round(value, 10)))  # ties: the earlier (smaller) set
                if first[best] < 0:
                    break
                best_next = int(first[best])
                m = int(self.order[best_next])
                run[m] = True
                last = best_next
                spent[i] += cost[i, m]
                used[i] += 1
            if not run.any():  # the empty set is never chosen; defensive
                m = int(self.order[0])
                run[m], spent[i], used[i] = True, cost[i, m], 1
            feats = self._post_features(router_p[i:i + 1], answer_ids[i:i + 1], run[None])[0]
            post = self.post.predict_proba(feats)[:, 1]  # type: ignore[attr-defined]
            rep[i] = int(np.argmax(np.where(run, post, -np.inf)))
        return Outcome(rep, spent, used)
