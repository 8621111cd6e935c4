"""The vectorised accept/stop rule the threshold searches use on training data (``dial_search``,
``meta_verifier``, the FrugalGPT baseline): a replica of ``decision.decide`` + ``best_attempt`` over (n, T)
confidences. No reported number comes from it - ``recorded_cascades.run_cascade`` runs the request path's
engine - and a unit test checks the two agree on random cascades."""

from __future__ import annotations

import numpy as np


def stop_rule(confidence: np.ndarray, tiers_len: np.ndarray, thresholds: np.ndarray,
              gate: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised replica of ``decide`` + ``best_attempt`` for (n, T) confidences and (n, T) thresholds:
    returns (stopping tier, tier whose answer is returned). Accept at the first tier whose confidence
    reaches its bar (where ``gate`` - ``ReplayPlan.gate`` - is not NaN, where the meta-verifier's gate
    reaches one half instead); otherwise stop at the prompt's last tier and return the most confident
    attempt (ties to the later tier; None ranks below any number). Used only to search thresholds on
    training data; reported numbers come from ``run_cascade``."""
    n, T = confidence.shape
    has_conf = ~np.isnan(confidence)
    conf = np.where(has_conf, confidence, -1.0)
    tpos = np.arange(T)[None, :]
    in_plan = tpos < tiers_len[:, None]
    passes = conf >= thresholds if gate is None else np.where(np.isnan(gate), conf >= thresholds, gate >= 0.5)
    # the last tier of a prompt stops whatever its confidence: mark it as "accept or stop"
    accept = has_conf & passes & in_plan
    last = tiers_len - 1
    accepted_early = accept & (tpos < last[:, None])
    any_early = accepted_early.any(axis=1)
    first = np.argmax(accepted_early, axis=1)
    stop = np.where(any_early, first, last)
    accepted_last = accept[np.arange(n), last]
    masked = np.where(tpos <= stop[:, None], conf, -np.inf)
    best = T - 1 - np.argmax(masked[:, ::-1], axis=1)
    ret = np.where(any_early, first, np.where(accepted_last, last, best))
    return stop, ret


def two_level_thresholds(tiers_len: np.ndarray, depth: int, cheap: float, last: float,
                         final: float | None = None) -> np.ndarray:
    """Per-prompt thresholds: ``last`` at the decision before a prompt's final tier, ``final`` at the final
    tier (default: ``cheap``), ``cheap`` elsewhere."""
    tpos = np.arange(depth)[None, :]
    thr = np.where(tpos == (tiers_len - 2)[:, None], last, cheap).astype(float)
    if final is not None:
        thr = np.where(tpos == (tiers_len - 1)[:, None], final, thr)
    return thr
