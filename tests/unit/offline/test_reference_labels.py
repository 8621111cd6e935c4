"""Labels without gold: an answer is right when it says what a reference says (the panel's majority, or a
reference model), read with the request path's answer equivalence."""

from __future__ import annotations

import numpy as np
import pytest

from switchboard.offline.outcomes import DataError, load_outcomes
from switchboard.offline.reference_labels import (
    PANEL,
    default_reference,
    label_by_reference,
    reference_answers,
)
from tests.support.offline_synth import write_parquet


@pytest.fixture
def data(tmp_path):
    return load_outcomes(write_parquet(tmp_path / "d.parquet", n_per_category=40))


def test_the_panel_labels_each_answer_by_the_majority_answer_and_never_reads_gold(data):
    gold = data.labels.correct.copy()
    relabelled, report = label_by_reference(data, PANEL)
    majority = reference_answers(data, PANEL)
    kept = majority >= 0
    assert report["labelled_prompts"] == int(kept.sum()) == relabelled.n < data.n  # ties stay unlabelled
    expected = (data.answer_ids[kept] == majority[kept, None]).astype(float)
    assert np.array_equal(relabelled.labels.correct, expected)
    assert np.array_equal(data.labels.correct, gold)  # the input is not touched
    # the synthetic big model is right 80% of the time: the panel mostly agrees with gold, not always
    assert 0.7 < report["label_agreement_with_gold"] < 1.0


def test_a_reference_model_labels_itself_right_wherever_it_answered(data):
    reference = default_reference(data)
    assert reference == "big"  # the dearest
    relabelled, report = label_by_reference(data, reference)
    assert report["reference"] == "big"
    assert (relabelled.labels.correct[:, relabelled.models.index("big")] == 1.0).all()


def test_a_reference_that_cannot_label_is_an_error_that_says_what_is_missing(data):
    with pytest.raises(DataError, match="not a model of the data"):
        label_by_reference(data, "gpt-9")
    silent = data.subset(np.arange(data.n))
    silent.answer_ids[:, silent.models.index("mid")] = -1
    with pytest.raises(DataError, match="gave no readable answer"):
        label_by_reference(silent, "mid")
    silent.answer_ids[:] = -1
    with pytest.raises(DataError, match="no model gave a readable answer"):
        label_by_reference(silent, PANEL)
