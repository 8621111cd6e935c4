"""Which answer features the verifier reads: the candidates, the choice on held-out folds of the training
prompts, the fitted projection, and the training rows that carry them."""

from __future__ import annotations

import numpy as np
import pytest

from switchboard.domain.answer_features import AnswerFeatures, AnswerSignals
from switchboard.domain.fusion import enumerate_candidates, feature_names, verifier_features
from switchboard.offline.answer_signals import fit_projection, recorded_encoder
from switchboard.offline.verifier import training_rows
from switchboard.offline.verifier_choice import candidate_features, choose


def _signals(n: int, k: int, rng: np.random.Generator, dim: int = 12, logprob: np.ndarray | None = None,
             with_text: bool = True) -> AnswerSignals:
    answers = rng.normal(size=(n, k, dim)).astype(np.float32)
    answers /= np.linalg.norm(answers, axis=-1, keepdims=True)
    question = rng.normal(size=(n, dim)).astype(np.float32)
    question /= np.linalg.norm(question, axis=-1, keepdims=True)
    lp = np.full((n, k), np.nan) if logprob is None else logprob
    return AnswerSignals(question if with_text else None, answers if with_text else None,
                         np.ones((n, k), dtype=bool), lp)


def test_the_verifier_reads_its_representatives_answer_features_after_the_agreement_ones():
    rng = np.random.default_rng(3)
    n, k = 30, 4
    ids = rng.integers(-1, 3, size=(n, k))
    correct = (rng.random((n, k)) < 0.6).astype(float)
    router_p = rng.random((n, k))
    resp_len = rng.integers(1, 400, size=(n, k)).astype(float)
    block = rng.normal(size=(n, k, 5)).astype(np.float32)
    rows = training_rows(ids, correct, router_p, resp_len, per_prompt=2, seed=4)
    # the training rows' appended features are the representative's, as verifier_features appends them
    X = rows.with_answers(block)
    assert X.shape[1] == rows.X.shape[1] + 5
    assert np.array_equal(X[:, -5:], block[rows.prompt, rows.rep])
    called = rng.random((n, k)) < 0.7
    called[:, 0] = True
    cand = enumerate_candidates(ids, called, router_p)
    full = verifier_features(ids, called, router_p, resp_len, cand, block)
    base = verifier_features(ids, called, router_p, resp_len, cand)
    assert np.array_equal(full[:, : base.shape[1]], base)
    assert np.array_equal(full[:, base.shape[1]:], block[cand.situation, cand.rep])
    features = AnswerFeatures(logprob=True)
    models = [f"m{j}" for j in range(k)]
    assert len(feature_names(models, features)) == base.shape[1] + 2
    assert feature_names(models)[-1] == "all_abstained" and feature_names(models, features)[-1] == "answer_has_logprob"


def test_the_candidates_are_what_the_data_can_feed():
    rng = np.random.default_rng(0)
    no_logprob = _signals(200, 3, rng)
    assert set(candidate_features("auto", no_logprob, dims=(4,))) == {"none", "embedding:4"}
    assert set(candidate_features("none", no_logprob)) == {"none"}
    assert set(candidate_features("auto", None)) == {"none"}
    logprob = rng.normal(size=(200, 3))
    logprob[:50] = np.nan  # recorded for some answers only: still a candidate (missing values have a branch)
    both = _signals(200, 3, rng, logprob=logprob)
    assert set(candidate_features("auto", both, dims=(4, 8))) == {
        "none", "embedding:4", "embedding:8", "logprob", "embedding:4+logprob", "embedding:8+logprob"}
    assert set(candidate_features("logprob", both, dims=(4,))) == {"none", "logprob"}
    assert set(candidate_features("embedding", both, dims=(4,))) == {"none", "embedding:4"}
    assert set(candidate_features("auto", _signals(200, 3, rng, with_text=False), dims=(4,))) == {"none"}
    with pytest.raises(ValueError, match="one of"):
        candidate_features("everything", both)


def test_the_projection_is_the_answers_principal_directions():
    rng = np.random.default_rng(1)
    n, k, dim = 300, 2, 12
    direction = np.zeros(dim)
    direction[3] = 1.0
    answers = (rng.normal(size=(n, k, 1)) * 5 * direction + rng.normal(size=(n, k, dim)) * 0.1 + 1.0)
    has = np.ones((n, k), dtype=bool)
    has[:, 1] = False  # answers without text do not shape it
    answers[:, 1] = 100.0
    signals = AnswerSignals(np.zeros((n, dim)), answers.astype(np.float32), has, np.full((n, k), np.nan))
    projection = fit_projection(signals, 2)
    assert projection is not None and projection.dims == 2
    assert abs(projection.components[0][3]) > 0.99
    assert np.allclose(projection.mean, answers[:, 0].mean(axis=0), atol=1e-5)
    few = AnswerSignals(np.zeros((10, dim)), answers[:10].astype(np.float32), has[:10], np.full((10, k), np.nan))
    assert fit_projection(few, 8) is None


def _outcomes(n: int, k: int, rng: np.random.Generator):
    ids = rng.integers(0, 3, size=(n, k))
    correct = (rng.random((n, k)) < 0.55).astype(float)
    router_p = np.full((n, k), 0.5)
    resp_len = np.full((n, k), 100.0)
    return ids, correct, router_p, resp_len


def test_auto_keeps_an_answer_feature_that_separates_right_from_wrong_on_held_out_folds():
    rng = np.random.default_rng(2)
    n, k = 600, 3
    ids, correct, router_p, resp_len = _outcomes(n, k, rng)
    logprob = np.where(correct == 1.0, rng.normal(-0.3, 0.2, (n, k)), rng.normal(-1.0, 0.3, (n, k)))
    rows = training_rows(ids, correct, router_p, resp_len, per_prompt=2, seed=0)
    fold_of = rng.permutation(n) % 3
    choice = choose(rows, _signals(n, k, rng, logprob=logprob), fold_of, 3, "auto", dims=(4,))
    assert choice.features.logprob and choice.report["chosen"] in ("logprob", "embedding:4+logprob")
    assert choice.report["oof_auroc"][choice.report["chosen"]] > choice.report["oof_auroc"]["none"] + 0.1
    assert choice.alternative is not None and not choice.alternative.enabled  # measured without, for reporting
    assert all(v.answer_features == choice.features for v in choice.fold_verifiers)


def test_auto_keeps_the_agreement_features_when_the_answers_say_nothing():
    rng = np.random.default_rng(3)
    n, k = 600, 3
    ids, correct, router_p, resp_len = _outcomes(n, k, rng)
    rows = training_rows(ids, correct, router_p, resp_len, per_prompt=2, seed=0)
    noise = _signals(n, k, rng, logprob=rng.normal(-0.5, 0.3, (n, k)))
    choice = choose(rows, noise, rng.permutation(n) % 3, 3, "auto", dims=(4,))
    assert choice.report["chosen"] == "none" and not choice.features.enabled
    assert choice.alternative is not None and choice.alternative.enabled
    forced = choose(rows, noise, rng.permutation(n) % 3, 3, "logprob", dims=(4,))
    assert forced.features == AnswerFeatures(logprob=True)  # forced: measured whatever validation says


def test_a_replays_encoder_returns_the_recorded_vectors_and_refuses_other_texts():
    from switchboard.domain.answer_features import answer_text
    from switchboard.domain.taxonomy import routing_text

    rng = np.random.default_rng(4)
    signals = _signals(2, 2, rng)
    signals.has_text[1, 1] = False
    responses = np.asarray([["  The answer is (A). ", "B"], ["C", ""]], dtype=object)
    embed = recorded_encoder(["first?", "second?"], responses, signals)
    assert np.array_equal(embed(routing_text("second?")), signals.question[1])
    assert np.array_equal(embed(answer_text(responses[0, 0])), signals.answers[0, 0])
    with pytest.raises(KeyError, match="no recorded embedding"):
        embed("an answer nobody gave")
    with pytest.raises(ValueError, match="embeddings"):
        recorded_encoder(["first?"], responses[:1], None)
