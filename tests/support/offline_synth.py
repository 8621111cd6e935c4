"""Tiny synthetic routing-outcome datasets (the shared schema) and a fake encoder, for fast offline tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CATEGORIES = ("alpha", "beta", "gamma")
LETTERS = "ABCD"
# per-model accuracy in each category and price (USD per call)
MODELS = {
    "cheap-a": ({"alpha": 0.85, "beta": 0.35, "gamma": 0.5}, 0.0001),
    "cheap-b": ({"alpha": 0.4, "beta": 0.8, "gamma": 0.5}, 0.0002),
    "mid": ({"alpha": 0.6, "beta": 0.6, "gamma": 0.65}, 0.001),
    "big": ({"alpha": 0.8, "beta": 0.8, "gamma": 0.8}, 0.01),
}


def prompt_text(category: str, i: int) -> str:
    options = "\n".join(f"({letter}) option {letter.lower()} of {i}" for letter in LETTERS)
    return f"{category} question number {i}: which option?\n{options}"


def make_frame(n_per_category: int = 60, seed: int = 0, ungraded: int = 0):
    """Long-format frame: one row per (prompt, model); CoT-like responses, no ``pred`` column values."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for category in CATEGORIES:
        for i in range(n_per_category):
            pid = f"{category}.{i}"
            gold = LETTERS[rng.integers(0, 4)]
            prompt = prompt_text(category, i)
            for model, (acc, price) in MODELS.items():
                right = rng.random() < acc[category]
                letter = gold if right else rng.choice([x for x in LETTERS if x != gold])
                response = f"Let me think. The answer is ({letter})."
                rows.append({"prompt_id": pid, "prompt": prompt, "category": category, "subcategory": category,
                             "reference": None, "model": model, "response": response, "pred": None,
                             "correct": 1.0 if right else 0.0, "input_tokens": None, "output_tokens": None,
                             "cost_usd": price * (0.8 + 0.4 * rng.random())})
    frame = pd.DataFrame(rows)
    if ungraded:
        frame.loc[frame.index[:ungraded], "correct"] = np.nan
    return frame


def with_answer_signals(frame, seed: int = 1, logprob_share: float = 1.0):
    """The frame with answers that say something of themselves: a right answer is usually worded with
    assurance and a wrong one hedged (``response``), and ``mean_logprob`` is higher for right answers
    (recorded for ``logprob_share`` of the answers, NaN for the rest) - what a verifier reading the
    answers themselves can learn and the agreement features cannot see."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    right = frame["correct"].fillna(0.0).to_numpy() == 1.0
    sure = np.where(right, rng.random(len(frame)) < 0.8, rng.random(len(frame)) < 0.3)
    letters = frame["response"].str.extract(r"\(([A-D])\)")[0]
    frame["response"] = [f"{'I am certain of it' if s else 'Perhaps, though unsure'}. The answer is ({x})."
                         for s, x in zip(sure, letters, strict=True)]
    logprob = np.where(right, rng.normal(-0.3, 0.25, len(frame)), rng.normal(-1.1, 0.35, len(frame)))
    frame["mean_logprob"] = np.where(rng.random(len(frame)) < logprob_share, np.minimum(logprob, 0.0), np.nan)
    return frame


def write_parquet(path: Path, **kwargs) -> Path:
    make_frame(**kwargs).to_parquet(path)
    return path


def fake_encoder():
    """The synthetic categories' encoder: one axis per category (its name opens every prompt), jittered."""
    from tests.support.fakes import FakeEncoder

    return FakeEncoder({c: i for i, c in enumerate(CATEGORIES)}, jitter=0.3)
