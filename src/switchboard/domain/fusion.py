"""Fusion of several answers to one prompt (EMAFusion): candidate answers and the learned verifier's
features. Pure numpy, shared by training (``switchboard.offline``) and the request path.

A *situation* is one prompt and the set of models whose answers were bought (``called``). Each distinct
answer among them is a candidate; the learned verifier scores every candidate from these features, and
the fused answer is the candidate it scores highest (a vote weighted by learned, prompt-dependent
reliabilities). Answers are compared as integer ids per prompt (``-1``: no extractable answer).
A verifier may also read features of the representative answer itself (``domain.answer_features``):
they are appended after the agreement features, in the order its ``AnswerFeatures`` names them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .answer_features import NO_ANSWER_FEATURES, AnswerFeatures

Predict = Callable[[np.ndarray], np.ndarray]  # verifier feature rows -> P(correct)


class Scorer(Protocol):
    """A verifier as fusion uses it: which answer features it reads, and feature rows -> P(correct)."""

    @property
    def answer_features(self) -> AnswerFeatures: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class PlainScorer:
    """A bare predict function as a ``Scorer`` (reading the agreement features only, unless told)."""

    fn: Predict
    answer_features: AnswerFeatures = field(default=NO_ANSWER_FEATURES)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.fn(X)


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
    Candidates come in the order of their first supporter among the called models (model order), so the
    order - and ``pick_best``'s tie-break - does not depend on answers that were not bought.
    """
    s_list, a_list, r_list = [], [], []
    ids = np.where(called, answer_ids, -2)
    score = np.where(called, router_p, -np.inf)
    for s in range(ids.shape[0]):
        row = ids[s]
        answers = list(dict.fromkeys(int(a) for a in row if a >= 0))
        if not answers:
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
                      cand: Candidates, answers: np.ndarray | None = None) -> np.ndarray:
    """Feature rows for the candidates (see ``feature_names``). Inputs are per situation: ``answer_ids``
    (s, k) int, ``called`` (s, k) bool, ``router_p`` (s, k), ``resp_len`` (s, k) characters, and
    ``answers`` (s, k, m): each model's answer features (``answer_features.answer_block``), of which the
    candidate's representative's are appended (None: the verifier reads none)."""
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
                             w_against, share, rep_p, rep_len, (cand.answer < 0).astype(float)]).astype(np.float32)
    if answers is not None and answers.shape[-1]:
        feats = np.column_stack([feats, np.asarray(answers, dtype=np.float32)[s, cand.rep]])
    return feats


def feature_names(models: list[str], answer_features: AnswerFeatures = NO_ANSWER_FEATURES) -> list[str]:
    return ([f"vote:{m}" for m in models] + [f"router_p:{m}" for m in models] + [f"rep:{m}" for m in models]
            + ["n_called", "n_support", "n_against", "n_distinct", "w_support", "w_against", "share",
               "rep_router_p", "rep_log_len", "all_abstained"] + answer_features.names())


def pick_best(situation: np.ndarray, scores: np.ndarray, n_situations: int) -> np.ndarray:
    """Per situation, the candidate row with the highest score; ties go to the earlier candidate."""
    best = np.full(n_situations, -1)
    for row, s in enumerate(situation):
        if best[s] < 0 or scores[row] > scores[best[s]]:
            best[s] = row
    return best


@dataclass
class Fused:
    """The fused answer of one situation: its answer id, the model whose response is returned, the
    verifier's score, and how many answers were bought."""

    answer: int
    rep: int
    score: float
    n_answers: int


def fuse_one(answer_ids: Sequence[int], called: Sequence[bool], router_p: Sequence[float],
             resp_len: Sequence[float], predict: Predict, answers: np.ndarray | None = None) -> Fused:
    """The request path's fusion step for one prompt: every candidate answer among the called models,
    scored by the verifier (``predict``: feature rows -> P(correct); ``answers``: (k, m) the answers'
    own features, when it reads them); the best one wins."""
    ids = np.asarray([answer_ids], dtype=int)
    mask = np.asarray([called], dtype=bool)
    rp = np.asarray([router_p], dtype=float)
    cand = enumerate_candidates(ids, mask, rp)
    block = None if answers is None else np.asarray(answers, dtype=np.float32)[None]
    scores = np.asarray(predict(verifier_features(ids, mask, rp, np.asarray([resp_len], dtype=float), cand, block)),
                        dtype=float).reshape(-1)
    row = int(pick_best(cand.situation, scores, 1)[0])
    return Fused(answer=int(cand.answer[row]), rep=int(cand.rep[row]), score=float(scores[row]),
                 n_answers=int(mask.sum()))
