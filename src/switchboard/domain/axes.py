"""EMAFusion's taxonomy on four axes, and combined routing. Pure: no I/O.

A prompt is labelled on four axes - ``task`` (what is asked), ``complexity`` (how hard), ``domain`` (what
about) and ``format`` (what shape the answer takes). A *fast* classifier (the sentence encoder plus one
softmax head per axis, ``adapters.learned.OnnxAxisHeads``) gives each axis a distribution; where it is
unsure (its top-two margin below a fitted ``margin``) a *slow* classifier (a catalogue model asked for the
labels, constrained to the label sets) may be asked too, and the two are fused per axis,
``p = lam * p_slow + (1 - lam) * p_fast`` (``lam`` fitted on validation; 0 without a slow classifier).

*Suitability* ``Phi(model | labels)`` is each model's accuracy on the training prompts with those labels,
shrunk toward coarser label combinations where data is thin (``Suitability``: the finest level known
wins; each level's estimate was shrunk toward its parent's at training time, ``offline.taxonomy_axes``).

*Combined routing*: a prompt's score for model m is ``w * P_router(m | prompt) + (1 - w) * Phi(m | labels)``
(``w`` fitted on validation; 1 is the learned router alone, 0 the taxonomy alone). A dial point in the
``combined`` order takes the best-scoring cheaper models, cheapest first, then the safety net
(``combined_order``) - the same function in training, evaluation and the planner.

Where the labels come from for training (``offline.taxonomy_axes``): ``domain`` is the dataset's category;
``task`` and ``format`` are read from the prompt by the rules below; ``complexity`` is how many of the
recorded models got the prompt wrong (tertiles), predicted from the embedding at request time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, Field

from .answers import is_code_task, parse_options

AXES = ("task", "complexity", "domain", "format")
TASKS = ("code", "math", "knowledge")
COMPLEXITIES = ("low", "medium", "high")
FORMATS = ("multiple_choice", "code", "numeric", "free_text")
_MATHY = re.compile(r"(\d+\s*[-+*/^=×÷]\s*\d+|\bsolve\b|\bcalculate\b|\bcompute\b|\bequation\b|√|∫|\\frac|\$)", re.I)
_NUMERIC_ASK = re.compile(r"(only the number|numeric answer|how many|how much|what is the value|####)", re.I)


def rule_task(prompt: str, category: str | None = None) -> str:
    """``code`` for a programming task, ``math`` for a calculation, else ``knowledge``."""
    if is_code_task(category, prompt):
        return "code"
    return "math" if len(_MATHY.findall(prompt[:4000])) >= 2 else "knowledge"


def rule_format(prompt: str, category: str | None = None) -> str:
    """The shape the answer takes: an option letter, code, a number, or free text."""
    if parse_options(prompt):
        return "multiple_choice"
    if is_code_task(category, prompt):
        return "code"
    return "numeric" if _NUMERIC_ASK.search(prompt[-1500:]) else "free_text"


def complexity_of(wrong_share: float) -> str:
    """Complexity from outcomes: the share of models that got the prompt wrong, in tertiles."""
    return COMPLEXITIES[min(2, int(wrong_share * 3 + 1e-9))]


def fuse(p_fast: np.ndarray, p_slow: np.ndarray | None, lam: float) -> np.ndarray:
    """Per-axis fusion of the fast and slow classifiers' distributions."""
    if p_slow is None or lam <= 0:
        return np.asarray(p_fast, dtype=float)
    return lam * np.asarray(p_slow, dtype=float) + (1.0 - lam) * np.asarray(p_fast, dtype=float)


def margin(p: np.ndarray) -> float:
    """Top-1 minus top-2 probability: how sure a distribution is."""
    top = np.sort(np.asarray(p, dtype=float))[::-1]
    return float(top[0] - (top[1] if len(top) > 1 else 0.0))


class AxisClassifier(BaseModel):
    """The label set of each axis (the heads' output order), and when and how the slow classifier is used."""

    classes: dict[str, list[str]]
    margin: float = 0.0  # ask the slow classifier where an axis's fast margin is below this
    lam: float = 0.0  # its weight in the fusion; 0: never asked
    slow_model: str | None = None

    def labels(self, probs: Mapping[str, np.ndarray]) -> dict[str, str]:
        return {axis: self.classes[axis][int(np.argmax(p))] for axis, p in probs.items()}

    def unsure(self, probs: Mapping[str, np.ndarray]) -> list[str]:
        """The axes where the fast classifier's margin is below the fitted one."""
        return [axis for axis, p in probs.items() if margin(p) < self.margin]


def level_key(labels: Mapping[str, str], level: Sequence[str]) -> str:
    return "|".join(f"{axis}={labels[axis]}" for axis in level) or "*"


class Suitability(BaseModel):
    """Phi(model | labels): per label combination, each model's shrunk accuracy (in ``models`` order).
    ``levels`` go from the finest combination to the coarsest (the last is ``()``, every prompt)."""

    models: list[str]
    levels: list[list[str]]
    tables: dict[str, list[float]] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)

    def phi(self, labels: Mapping[str, str]) -> np.ndarray:
        """The finest level whose combination training saw (its estimate shrunk toward coarser ones)."""
        for level in self.levels:
            key = level_key(labels, level)
            if key in self.tables:
                return np.asarray(self.tables[key], dtype=float)
        return np.full(len(self.models), 0.5)


def combined_scores(router_p: np.ndarray | None, phi: np.ndarray | None, w: float) -> np.ndarray:
    """``w * P_router + (1 - w) * Phi``; either alone where the other is missing."""
    if router_p is None and phi is None:
        raise ValueError("combined routing needs the learned router's probabilities or the suitability")
    if router_p is None:
        return np.asarray(phi, dtype=float)
    if phi is None:
        return np.asarray(router_p, dtype=float)
    return w * np.asarray(router_p, dtype=float) + (1.0 - w) * np.asarray(phi, dtype=float)


def combined_order(scores: Sequence[float] | np.ndarray, cost: Sequence[float] | np.ndarray, safety_net: int,
                   n_cheap: int, allowed: Sequence[bool] | None = None) -> list[int]:
    """A prompt's tier order: the ``n_cheap`` best-scoring models cheaper than the safety net (and allowed:
    tools, format), cheapest first, then the safety net. Ties go to the cheaper model."""
    price = np.asarray(cost, dtype=float)
    score = np.asarray(scores, dtype=float)
    ok = [j for j in range(len(score)) if j != safety_net and price[j] <= price[safety_net]
          and (allowed is None or allowed[j])]
    best = sorted(ok, key=lambda j: (-score[j], price[j], j))[: max(0, n_cheap)]
    return [*sorted(best, key=lambda j: (price[j], j)), safety_net]
