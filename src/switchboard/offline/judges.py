"""Judges over recorded data, and the learned verifier that fuses several answers.

Two judges, both *simulated from recorded data* and named so in every verdict they produce:

- ``AgreementJudge`` (kind ``agreement``, name ``agreement:<J>``): judge model J agrees with the candidate
  when J's recorded, extracted answer equals the candidate's. Its score is 1.0 (agrees) or 0.0, and it
  abstains (None) when either answer could not be extracted. It costs J's recorded ``cost_usd`` for the
  prompt, since J had to solve the prompt to judge it - charged once per prompt: a model whose answer
  was already paid for (as a tier or an earlier judge) is free to reuse, and a judge later called as a
  tier is not charged again.
- ``LearnedVerifier`` (kind ``verifier``, name ``verifier``): a small model over features of the prompt
  and of the answers bought so far - which models gave the candidate answer and which contradicted it,
  the learned router's per-model P(correct) for the prompt, the response length - that predicts
  P(candidate correct). It is exported to ONNX and costs nothing (microseconds of CPU). Over several
  answers it is EMAFusion's fusion step: the returned answer is the candidate it scores highest, i.e. a
  vote weighted by learned, prompt-dependent reliabilities.

Neither reads ``correct`` or ``reference``: labels enter only ``LearnedVerifier.fit``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from switchboard.domain.models import Verdict

SIMULATED = "simulated from recorded data"


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


@dataclass
class Candidates:
    """Candidate answers of a batch of (prompt, called-set) situations, one row per candidate.

    ``situation`` indexes the situation a row belongs to; ``answer`` is the answer id (-1: every called
    model abstained, the candidate is a raw response); ``rep`` is the model whose response is returned.
    """

    situation: np.ndarray
    answer: np.ndarray
    rep: np.ndarray


def enumerate_candidates(answer_ids: np.ndarray, called: np.ndarray, router_p: np.ndarray) -> Candidates:
    """All distinct answers among the called models of each situation (rows of the inputs).

    The representative of an answer is the called model giving it with the highest router P(correct).
    A situation where every called model abstained gets one candidate: the most trusted called model.
    """
    s_list, a_list, r_list = [], [], []
    ids = np.where(called, answer_ids, -2)
    score = np.where(called, router_p, -np.inf)
    for s in range(ids.shape[0]):
        row = ids[s]
        answers = np.unique(row[row >= 0])
        if answers.size == 0:
            s_list.append(s)
            a_list.append(-1)
            r_list.append(int(np.argmax(score[s])))
            continue
        for a in answers:
            members = np.where(row == a, score[s], -np.inf)
            s_list.append(s)
            a_list.append(int(a))
            r_list.append(int(np.argmax(members)))
    return Candidates(np.asarray(s_list, dtype=int), np.asarray(a_list, dtype=int), np.asarray(r_list, dtype=int))


def verifier_features(answer_ids: np.ndarray, called: np.ndarray, router_p: np.ndarray, resp_len: np.ndarray,
                      cand: Candidates) -> np.ndarray:
    """Feature rows for the candidates (see ``feature_names``). Inputs are per situation: ``answer_ids``
    (s, k) int, ``called`` (s, k) bool, ``router_p`` (s, k), ``resp_len`` (s, k) characters."""
    s = cand.situation
    ids = answer_ids[s]
    cl = called[s]
    valid = cl & (ids >= 0)
    support = valid & (ids == cand.answer[:, None]) & (cand.answer[:, None] >= 0)
    against = valid & ~support
    vote = support.astype(np.float32) - against.astype(np.float32)
    rp = router_p[s]
    lg = _logit(rp)
    n_called = cl.sum(axis=1)
    n_support = support.sum(axis=1)
    n_against = against.sum(axis=1)
    distinct = np.asarray([len(set(r[v])) for r, v in zip(ids, valid, strict=True)])
    rows = np.arange(len(s))
    rep_p = rp[rows, cand.rep]
    rep_len = np.log1p(resp_len[s][rows, cand.rep])
    w_support = (lg * support).sum(axis=1)
    w_against = (lg * against).sum(axis=1)
    share = np.where(n_called > 0, n_support / np.maximum(1, n_called), 0.0)
    rep_onehot = np.zeros_like(vote)
    rep_onehot[rows, cand.rep] = 1.0
    feats = np.column_stack([vote, rp, rep_onehot, n_called, n_support, n_against, distinct, w_support,
                             w_against, share, rep_p, rep_len, (cand.answer < 0).astype(float)])
    return feats.astype(np.float32)


def feature_names(models: list[str]) -> list[str]:
    return ([f"vote:{m}" for m in models] + [f"router_p:{m}" for m in models] + [f"rep:{m}" for m in models]
            + ["n_called", "n_support", "n_against", "n_distinct", "w_support", "w_against", "share",
               "rep_router_p", "rep_log_len", "all_abstained"])


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
        self.model = None

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


@dataclass
class Fused:
    """Outcome of fusing the answers of one situation: the answer returned and its verifier score."""

    answer: int
    rep: int
    score: float


def fuse(answer_ids: np.ndarray, called: np.ndarray, router_p: np.ndarray, resp_len: np.ndarray,
         predict) -> list[Fused]:  # noqa: ANN001 - predict: features -> P(correct)
    """For each situation, the candidate the verifier scores highest (EMAFusion-style weighted vote)."""
    cand = enumerate_candidates(answer_ids, called, router_p)
    scores = predict(verifier_features(answer_ids, called, router_p, resp_len, cand))
    out: list[Fused | None] = [None] * answer_ids.shape[0]
    for row, s in enumerate(cand.situation):
        current = out[s]
        if current is None or scores[row] > current.score:
            out[s] = Fused(int(cand.answer[row]), int(cand.rep[row]), float(scores[row]))
    return out  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------ verdicts


class AgreementJudge:
    """Simulated agreement judge: J's recorded answer vs the candidate's (see the module docstring)."""

    kind = "agreement"

    def __init__(self, model: str) -> None:
        self.model = model

    @property
    def name(self) -> str:
        return f"agreement:{self.model}"

    def verdict(self, candidate_answer: int, judge_answer: int, cost_usd: float) -> Verdict:
        if candidate_answer < 0 or judge_answer < 0:
            return Verdict(judge=self.name, kind="agreement", score=None, cost_usd=cost_usd,
                           detail=f"{SIMULATED}: no extractable answer, abstains")
        agrees = candidate_answer == judge_answer
        return Verdict(judge=self.name, kind="agreement", score=1.0 if agrees else 0.0, cost_usd=cost_usd,
                       detail=f"{SIMULATED}: {self.model}'s recorded answer {'agrees' if agrees else 'differs'}")


def verifier_verdict(score: float, n_answers: int) -> Verdict:
    return Verdict(judge="verifier", kind="verifier", score=float(min(1.0, max(0.0, score))), cost_usd=0.0,
                   detail=f"learned verifier over {n_answers} recorded answer(s) ({SIMULATED})")
