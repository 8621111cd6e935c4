"""Which features of the answers themselves the verifier reads, chosen on the training prompts alone.

Every candidate feature set (``domain.answer_features``: none; the answer embedding reduced to a few
projected dimensions; the answer's token log-probability where the data records one; both) is trained
with the same cross-fitting folds as the verifier itself; each is scored by the AUROC of its
out-of-fold predictions on the training rows (each row scored by the fold verifier that did not see its
prompt). In ``auto`` mode the best candidate replaces the agreement-only verifier only when its
out-of-fold AUROC beats it by more than ``MARGIN_SE`` standard errors of the paired difference
(bootstrapped over prompts): answer features are kept only where they help on prompts the verifier did
not learn from. The other modes force a group (``none``, ``embedding``, ``logprob``, ``all``), to
measure it. Labels are the training prompts' only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from switchboard.domain.answer_features import NO_ANSWER_FEATURES, AnswerFeatures, AnswerSignals, answer_block
from switchboard.offline.answer_signals import fit_projection
from switchboard.offline.verifier import LearnedVerifier, TrainingRows

MODES = ("auto", "none", "embedding", "logprob", "all")
DEFAULT_DIMS = (8, 32)
MARGIN_SE = 2.0
BOOTSTRAP = 100


@dataclass
class VerifierChoice:
    """The chosen answer features, its fold verifiers (for the out-of-fold scores the calibration and the
    dial search read), and what every candidate measured. ``alternative`` is the best candidate of the
    other kind (with answer features when none were chosen, and the reverse), fitted for reporting."""

    features: AnswerFeatures
    fold_verifiers: list[LearnedVerifier]
    report: dict
    alternative: AnswerFeatures | None = None
    candidates: dict[str, AnswerFeatures] = field(default_factory=dict)


def auroc(y: np.ndarray, score: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Area under the ROC curve (NaN when only one class is present)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, score, sample_weight=weight))


def candidate_features(mode: str, signals: AnswerSignals | None, dims: tuple[int, ...] = DEFAULT_DIMS,
                       seed: int = 0) -> dict[str, AnswerFeatures]:
    """The feature sets ``mode`` compares, by name; "none" (agreement features only) is always one."""
    if mode not in MODES:
        raise ValueError(f"answer features: one of {MODES}, not {mode!r}")
    out = {"none": NO_ANSWER_FEATURES}
    if mode == "none" or signals is None:
        return out
    embeddings = {}
    if mode in ("auto", "embedding", "all"):
        for d in dims:
            projection = fit_projection(signals, d, seed)
            if projection is not None:
                embeddings[f"embedding:{projection.dims}"] = AnswerFeatures(embedding=projection)
    has_logprob = bool((~np.isnan(signals.logprob)).any())
    if mode in ("auto", "embedding"):
        out.update(embeddings)
    if has_logprob and mode in ("auto", "logprob"):
        out["logprob"] = AnswerFeatures(logprob=True)
    if has_logprob and mode in ("auto", "all"):
        out.update({f"{name}+logprob": AnswerFeatures(embedding=f.embedding, logprob=True)
                    for name, f in embeddings.items()})
    elif mode == "all":
        out.update(embeddings)
    return out


def _oof(rows: TrainingRows, X: np.ndarray, fold_of: np.ndarray, folds: int, seed: int,
         features: AnswerFeatures) -> tuple[np.ndarray, list[LearnedVerifier]]:
    """Out-of-fold predictions on the training rows and the fold verifiers that made them."""
    oof = np.full(len(rows.y), np.nan)
    verifiers = []
    row_fold = fold_of[rows.prompt]
    for f in range(folds):
        held = row_fold == f
        verifier = LearnedVerifier(seed=seed, answer_features=features).fit(X[~held], rows.y[~held])
        if held.any():
            oof[held] = verifier.predict(X[held])
        verifiers.append(verifier)
    return oof, verifiers


def _paired_se(rows: TrainingRows, a: np.ndarray, b: np.ndarray, n_prompts: int, seed: int) -> float:
    """Standard error of AUROC(a) - AUROC(b) on the rows, bootstrapping prompts."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(BOOTSTRAP):
        weight = np.bincount(rng.integers(0, n_prompts, n_prompts), minlength=n_prompts)[rows.prompt]
        diffs.append(auroc(rows.y, a, weight) - auroc(rows.y, b, weight))
    return float(np.nanstd(diffs))


def choose(rows: TrainingRows, signals: AnswerSignals | None, fold_of: np.ndarray, folds: int, mode: str = "auto",
           dims: tuple[int, ...] = DEFAULT_DIMS, seed: int = 0) -> VerifierChoice:
    """Cross-fit every candidate of ``mode`` on the training rows and choose (see the module)."""
    candidates = candidate_features(mode, signals, dims, seed)
    n_prompts = int(fold_of.shape[0])
    k = signals.has_text.shape[1] if signals is not None else 0
    measured: dict[str, tuple[float, np.ndarray, list[LearnedVerifier]]] = {}
    for name, features in candidates.items():
        block = answer_block(features, signals, n_prompts, k) if features.enabled else None
        X = rows.X if block is None else rows.with_answers(block)
        oof, verifiers = _oof(rows, X, fold_of, folds, seed, features)
        measured[name] = (auroc(rows.y, oof), oof, verifiers)
    base = measured["none"]
    others = {name: m for name, m in measured.items() if name != "none"}
    report: dict = {"mode": mode, "rule": _rule(mode), "oof_auroc": {n: round(m[0], 5) for n, m in measured.items()},
                    "rows": int(len(rows.y))}
    best = max(others, key=lambda n: others[n][0]) if others else None
    chosen = "none"
    if best is not None:
        se = _paired_se(rows, others[best][1], base[1], n_prompts, seed)
        gain = others[best][0] - base[0]
        report.update({"best_with_answer_features": best, "gain": round(gain, 5), "gain_se": round(se, 5)})
        if mode != "auto" or gain > MARGIN_SE * se:
            chosen = best
    report["chosen"] = chosen
    alternative = (best if chosen == "none" else "none") if best is not None else None
    return VerifierChoice(features=candidates[chosen], fold_verifiers=measured[chosen][2], report=report,
                          alternative=candidates[alternative] if alternative is not None else None,
                          candidates=candidates)


def _rule(mode: str) -> str:
    if mode == "auto":
        return (f"the candidate with the best out-of-fold AUROC on the training prompts, kept only when it beats "
                f"the agreement features alone by more than {MARGIN_SE:g} bootstrap standard errors")
    return f"forced ({mode}): the best candidate of that group by out-of-fold AUROC"
