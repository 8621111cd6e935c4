"""Labels without gold: train on traffic nobody graded.

A team with its own traffic has answers but no gold labels. Here an answer is labelled right when it says
what a *reference* says - equivalence as the request path reads it (``domain.answers``: option letters,
numbers within a tolerance, canonical code, normalised text; ``RecordedOutcomes.answer_ids`` number the
distinct answers of a prompt with it). Two references:

- ``panel``: the majority answer of every model that gave one (AutoMix's and FrugalGPT's agreement idea,
  applied to labelling); a prompt with no strict majority is left unlabelled (NaN), as is one where no model
  gave a readable answer;
- a model (``--reference MODEL``; by default the dearest model of the data, the strongest one affordable
  for labelling): its answer; the model then labels itself right wherever it answered, which is the price
  of one judge.

Only ``train`` reads these labels; every reported figure is scored on gold where the data has it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from switchboard.offline.outcomes import DataError, Labels, RecordedOutcomes

PANEL = "panel"


def default_reference(data: RecordedOutcomes) -> str:
    """The dearest model of the data (mean cost per call): the strongest one a team can afford to label
    with when it knows nothing better."""
    return data.models[int(np.argmax(data.mean_cost()))]


def reference_answers(data: RecordedOutcomes, reference: str) -> np.ndarray:
    """(n,) the answer id each prompt's reference gives (-1: none, the prompt stays unlabelled)."""
    ids = data.answer_ids
    if not (ids >= 0).any():
        raise DataError(f"{data.name}: no model gave a readable answer, so there is nothing to label by "
                        "reference (the data needs responses whose answers can be read, or a pred column)")
    if reference != PANEL:
        if reference not in data.models:
            raise DataError(f"--reference {reference!r} is not a model of the data; its models are {data.models}")
        column = ids[:, data.models.index(reference)]
        if not (column >= 0).any():
            raise DataError(f"the reference model {reference!r} gave no readable answer in {data.name}: choose "
                            f"another with --reference, or --reference panel")
        return column.astype(int)
    out = np.full(data.n, -1, dtype=int)
    for i, row in enumerate(ids):
        answered = row[row >= 0]
        if len(answered) == 0:
            continue
        values, counts = np.unique(answered, return_counts=True)
        top = int(np.argmax(counts))
        if counts[top] * 2 > len(answered):  # a strict majority of those that answered
            out[i] = int(values[top])
    return out


def label_by_reference(data: RecordedOutcomes, reference: str = PANEL) -> tuple[RecordedOutcomes, dict[str, Any]]:
    """``data`` with its labels replaced by agreement with the reference (see the module), and a report:
    which reference, how many prompts it labelled, and - where the data has gold - how often its labels
    agree with gold (a measurement only: nothing is tuned on it)."""
    answer = reference_answers(data, reference)
    labelled = answer >= 0
    correct = np.where(labelled[:, None], (data.answer_ids == answer[:, None]).astype(float), np.nan)
    gold = data.labels.correct
    both = ~np.isnan(gold) & ~np.isnan(correct)
    report: dict[str, Any] = {"reference": reference, "prompts": int(data.n), "labelled_prompts": int(labelled.sum()),
                              "label_agreement_with_gold": round(float((gold[both] == correct[both]).mean()), 4)
                              if both.any() else None}
    relabelled = replace(data, labels=Labels(correct=correct, reference=np.full(data.n, None, dtype=object)))
    keep = np.nonzero(labelled)[0]
    return relabelled.subset(keep), report
