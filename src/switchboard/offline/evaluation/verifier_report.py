"""The verifier's own accuracy on held-out prompts: AUROC with and without the answers' own features.

Rows are drawn on the evaluated prompts as training draws them (``verifier.training_rows``: every model
alone, plus random subsets of models per prompt; seeded), each candidate answer labelled by its
representative's recorded correctness - read here only to score. Both verifiers were fitted on the
training prompts (``fit.System``: the deployed one and the ``alternative_verifier``); the same rows score
both, so the difference is paired.
"""

from __future__ import annotations

import numpy as np

from switchboard.domain.answer_features import AnswerSignals, answer_block
from switchboard.offline.outcomes import RecordedOutcomes
from switchboard.offline.verifier import LearnedVerifier, training_rows
from switchboard.offline.verifier_choice import auroc

SUBSETS_PER_PROMPT = 6
SEED = 11


def held_out_auroc(verifiers: list[LearnedVerifier], test: RecordedOutcomes, router_p: np.ndarray,
                   signals: AnswerSignals | None) -> list[dict]:
    """Per verifier: its answer features and its AUROC on the held-out rows (all rows, and the rows of a
    single model's answer alone: how well it tells a right answer from a wrong one with no vote to read)."""
    resp_len = np.vectorize(len, otypes=[float])(test.responses)
    rows = {"all": training_rows(test.answer_ids, test.labels.correct, router_p, resp_len,
                                 per_prompt=SUBSETS_PER_PROMPT, seed=SEED),
            "single_answer": training_rows(test.answer_ids, test.labels.correct, router_p, resp_len,
                                           per_prompt=0, seed=SEED)}
    out = []
    for verifier in verifiers:
        features = verifier.answer_features
        block = answer_block(features, signals, test.n, test.k) if features.enabled else None
        entry: dict = {"answer_features": features.groups()}
        for name, r in rows.items():
            X = r.X if block is None else r.with_answers(block)
            entry[name] = round(auroc(r.y, verifier.predict(X)), 5)
        entry["rows"] = {name: int(len(r.y)) for name, r in rows.items()}
        out.append(entry)
    return out


def verifier_block(deployed: LearnedVerifier, alternative: LearnedVerifier | None, test: RecordedOutcomes,
                   router_p: np.ndarray, signals: AnswerSignals | None, selection: dict | None) -> dict:
    """``results.json``'s ``verifier``: the deployed verifier's answer features and feature names, how they
    were chosen on the training prompts, and the held-out AUROC with and without answer features."""
    measured = held_out_auroc([deployed] + ([alternative] if alternative is not None else []), test, router_p, signals)
    with_answers = next((m for m in measured if m["answer_features"]), None)
    without = next((m for m in measured if not m["answer_features"]), None)
    return {"answer_features": deployed.answer_features.groups(),
            "answer_feature_names": deployed.answer_features.names(),
            "selection": selection,
            "held_out_auroc": {"with_answer_features": with_answers, "without_answer_features": without}}
