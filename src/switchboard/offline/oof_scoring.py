"""Out-of-fold scoring on the training prompts (``fit``): each prompt's plan scored by the verifier of the
fold it was held out of, so calibration and the dial search never read a score of a verifier that saw the
prompt's labels; and the isotonic calibration fitted on those scores."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from switchboard.domain.decision import Calibration
from switchboard.offline.recorded_cascades import ReplayPlan, Scored, Situation, score_plan
from switchboard.offline.verifier import LearnedVerifier, fuse


class OofScorer:
    """Scores plans on training prompts with the verifier of the fold each prompt was held out of."""

    def __init__(self, sit: Situation, fold_of: np.ndarray, verifiers: Sequence[LearnedVerifier]) -> None:
        self.sit, self.fold_of, self.verifiers = sit, fold_of, list(verifiers)

    def score(self, plan: ReplayPlan, weights: dict[str, float] | None = None,
              calibration: Calibration | None = None) -> Scored:
        n, T = self.sit.n, plan.depth
        out = Scored(np.full((n, T), -1, dtype=int), np.full((n, T), -1, dtype=int), np.full((n, T), np.nan),
                     np.zeros((n, T)), np.full((n, T), np.nan), np.zeros((n, T), dtype=int),
                     [[] for _ in range(n)])
        for f, verifier in enumerate(self.verifiers):
            idx = np.nonzero(self.fold_of == f)[0]
            if len(idx) == 0:
                continue
            s = score_plan(self.sit.rows(idx), plan.rows(idx), verifier, weights, calibration)
            width = s.rep.shape[1]
            out.rep[idx, :width] = s.rep
            out.answer[idx, :width] = s.answer
            out.score[idx, :width] = s.score
            out.new_cost[idx, :width] = s.new_cost
            out.confidence[idx, :width] = s.confidence
            out.n_answers[idx, :width] = s.n_answers
            for r, i in enumerate(idx):
                out.verdicts[i] = s.verdicts[r] + [[] for _ in range(T - width)]
        return out

    def fused_correct(self, called: np.ndarray, correct: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Correctness of the fused answer of ``called`` models for the given prompt rows."""
        out = np.full(len(rows), np.nan)
        for f, verifier in enumerate(self.verifiers):
            sel = np.nonzero(self.fold_of[rows] == f)[0]
            if len(sel) == 0:
                continue
            idx = rows[sel]
            block = self.sit.answer_block(verifier.answer_features)
            fused = fuse(self.sit.answer_ids[idx], called[sel], self.sit.router_p[idx], self.sit.resp_len[idx],
                         verifier, None if block is None else block[idx])
            out[sel] = [correct[i, fz.rep] for i, fz in zip(idx, fused, strict=True)]
        return out


def isotonic(x: np.ndarray, y: np.ndarray, knots: int = 40) -> Calibration:
    """Isotonic map from scores ``x`` to outcomes ``y`` (NaNs left out), thinned to at most ``knots``
    knots; the identity (an empty ``Calibration``) when fewer than 20 pairs are known."""
    from sklearn.isotonic import IsotonicRegression

    ok = ~np.isnan(x) & ~np.isnan(y)
    if ok.sum() < 20:
        return Calibration()
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x[ok], y[ok])
    xs = np.asarray(iso.X_thresholds_, dtype=float)
    ys = np.asarray(iso.y_thresholds_, dtype=float)
    if len(xs) > knots:  # thin the knots (the map stays monotone)
        keep = np.unique(np.linspace(0, len(xs) - 1, knots).round().astype(int))
        xs, ys = xs[keep], ys[keep]
    return Calibration(xs=[round(float(v), 6) for v in xs], ys=[round(float(v), 6) for v in ys])
