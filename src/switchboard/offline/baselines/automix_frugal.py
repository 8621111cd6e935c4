"""Baselines reimplemented over recorded data, on the same embeddings and verifier scores as Switchboard.

- RouterBench kNN router and RouteLLM routers (matrix factorisation; BERT-style classifier) live in
  ``routers``; this module turns their probabilities into routing decisions.
- AutoMix: a small model (SLM) answers; a meta-verifier over its verification score decides whether to
  escalate to the large model (LLM). Both of AutoMix's meta-verifiers come from the ``automix-llm``
  package (``Threshold`` and the ``POMDP`` union: POMDPSimple, GreedyPOMDP, DoubleThreshold,
  Threshold), trained with its ``Automix.train`` (IBC-lift maximisation) on the training prompts. The
  decision each meta-verifier makes on a score is expressed as a ``policy.Calibration`` (a piecewise-linear
  map of the score to 1 = accept / 0 = escalate, threshold 0.5), so the cascade runs through
  ``decision.decide`` like every other cascade here.
- FrugalGPT: an LLM cascade (a list of up to three models in increasing cost, one threshold per tier) on a
  learned scorer of a single answer; the list and thresholds are searched on training prompts under a
  budget, as in FrugalGPT's optimisation.

AutoMix's self-verification (k few-shot samples of the SLM judging itself) cannot be replayed from recorded
data; both AutoMix and FrugalGPT here use the learned verifier applied to the one answer alone (no other
model's answer in its features), i.e. a learned stand-in for self-verification / FrugalGPT's DistilBERT
scorer, at zero cost.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from switchboard.domain.decision import Calibration
from switchboard.offline.stop_rules import stop_rule

AUTOMIX_BINS = 10


def binary_route(score: np.ndarray, alpha: float) -> np.ndarray:
    """RouteLLM: send the prompt to the strong model when its predicted advantage reaches ``alpha``."""
    return score >= alpha


def quantile_thresholds(train_score: np.ndarray, rates: Sequence[float]) -> list[float]:
    """Thresholds that send the given shares of *training* prompts to the strong model."""
    out = []
    for r in rates:
        if r <= 0:
            out.append(float(np.inf))
        elif r >= 1:
            out.append(float(-np.inf))
        else:
            out.append(float(np.quantile(train_score, 1 - r)))
    return out


OFF_EDGE = 1e-7  # a verifier score is moved this far off the package's bin edges


def automix_frame(p_ver: np.ndarray, slm_correct: np.ndarray, llm_correct: np.ndarray):  # noqa: ANN201
    """The DataFrame ``automix-llm`` expects. Its GreedyPOMDP reads the fixed column names
    ``llama13b_f1`` / ``llama70b_f1``, so the SLM / LLM scores take those names; ``category`` is AutoMix's
    GOOD (SLM right) / NEEDY (SLM wrong, LLM right) / HOPELESS (both wrong)."""
    import pandas as pd

    slm = np.nan_to_num(slm_correct, nan=0.0)
    llm = np.nan_to_num(llm_correct, nan=0.0)
    category = np.where(slm >= 1, "GOOD", np.where(llm >= 1, "NEEDY", "HOPELESS"))
    # off the bins' half-way points, as ``policy_calibration``'s grid: the package's nearest-bin lookup
    # finds no bin for a score whose distance to two bin centres rounds to half a bin either way (a
    # score of 0.55 with 10 bins), and then fails on a None index
    return pd.DataFrame({"p_ver": np.clip(p_ver + OFF_EDGE, 0, 1 - 1e-9), "llama13b_f1": slm, "llama70b_f1": llm,
                         "category": category})


def automix_methods(kind: str):  # noqa: ANN201
    from automix import POMDP, Threshold

    if kind == "threshold":
        return Threshold(num_bins=AUTOMIX_BINS)
    if kind == "pomdp":
        return POMDP(num_bins=AUTOMIX_BINS)
    raise ValueError(kind)


def train_automix(kind: str, frame, costs: tuple[float, float]):  # noqa: ANN001, ANN201
    """Fit AutoMix's meta-verifier with the package's own training loop (best IBC lift on ``frame``)."""
    import contextlib
    import io
    import warnings

    from automix import Automix

    method = automix_methods(kind)
    automix = Automix(method, slm_column="llama13b_f1", llm_column="llama70b_f1", verifier_column="p_ver",
                      costs=list(costs), verifier_cost=0.0)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the package divides by zero for no-escalation settings
        # settings that never escalate have an undefined IBC lift (0/0), which the package's max() may
        # pick; the cost constraint leaves them out
        automix.train(frame, cost_constraint=(costs[0] * (1 + 1e-6) + 1e-12, float("inf")))
    params = method.generate_points(frame, verifier_column="p_ver")
    return automix, method, params


def policy_calibration(method, param, resolution: int = 2000) -> Calibration:  # noqa: ANN001
    """The accept (1) / escalate (0) decision of one AutoMix meta-verifier setting, as a Calibration.

    The package's own ``method.run`` is evaluated on a fine grid of verifier scores in [0, 1] and the
    resulting step function is written as knots on both sides of every switch, so with threshold 0.5
    ``decision.decide`` escalates exactly where AutoMix would (up to 1/``resolution`` at a switch).
    """
    import pandas as pd
    from automix import AutomixUnion, DoubleThreshold, Threshold

    if isinstance(method, AutomixUnion):
        method, param = method.methods[param[1]], param[0]
    eps = 1e-9
    if isinstance(method, DoubleThreshold):  # escalate when lo <= p <= hi (exact knots)
        lo, hi = map(float, param)
        return Calibration(xs=[0.0, lo - eps, lo, hi, hi + eps, 1.0], ys=[1.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    if type(method) is Threshold:  # escalate when p <= t
        t = float(param)
        return Calibration(xs=[0.0, t, t + eps, 1.0], ys=[0.0, 0.0, 1.0, 1.0])
    # off the bin edges: the package's nearest-bin lookup returns no bin for a score exactly on an edge
    grid = np.clip(np.linspace(0.0, 1.0, resolution + 1) + OFF_EDGE, 0.0, 1.0 - 1e-9)
    frame = pd.DataFrame({"p_ver": grid})
    retry = np.asarray(method.run(frame, param, verifier_column="p_ver"), dtype=bool)
    accept = (~retry).astype(float)
    xs, ys = [float(grid[0])], [float(accept[0])]
    for i in range(1, len(grid)):
        if accept[i] != accept[i - 1]:
            if xs[-1] != grid[i - 1]:
                xs.append(float(grid[i - 1]))
                ys.append(float(accept[i - 1]))
            xs.append(float(grid[i]))
            ys.append(float(accept[i]))
    if xs[-1] != grid[-1]:
        xs.append(float(grid[-1]))
        ys.append(float(accept[-1]))
    return Calibration(xs=xs, ys=ys)


def apply_calibration(cal: Calibration, x: np.ndarray) -> np.ndarray:
    if not cal.xs:
        return np.asarray(x, dtype=float)
    return np.interp(x, cal.xs, cal.ys)


@dataclass
class FrugalConfig:
    models: list[int]
    thresholds: list[float]
    train_cost_per_1k: float
    train_accuracy: float


FRUGAL_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def search_frugal(scores: np.ndarray, correct: np.ndarray, cost: np.ndarray, candidates: Sequence[int],
                  max_len: int = 3) -> list[FrugalConfig]:
    """Every cascade list (increasing mean cost, length 1..max_len) x per-tier thresholds on training
    data, with its accuracy and cost. ``scores`` (n, k) is the single-answer scorer of each model."""
    n = scores.shape[0]
    rows = np.arange(n)
    mean_cost = cost.mean(axis=0)
    out: list[FrugalConfig] = []
    cand = sorted(candidates, key=lambda j: mean_cost[j])
    for length in range(1, max_len + 1):
        for combo in itertools.combinations(cand, length):
            models = list(combo)
            conf = scores[:, models]
            cum = np.cumsum(cost[:, models], axis=1)
            lens = np.full(n, length)
            for thr in itertools.product(FRUGAL_THRESHOLDS, repeat=length - 1):
                thresholds = np.broadcast_to(np.asarray([*thr, 1.01], dtype=float), (n, length))
                stop, ret = stop_rule(conf, lens, thresholds)
                acc = float(np.nanmean(correct[rows, np.asarray(models)[ret]]))
                out.append(FrugalConfig(models, [*map(float, thr), 1.01], float(cum[rows, stop].mean() * 1000),
                                        acc))
    return out
