"""Synthetic routing outcomes in the shared Parquet schema with *topical* prompts (code, arithmetic,
history), so a real sentence encoder separates the categories. Each model's accuracy per topic is given,
so tests know which model training should put first in each category."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

TOPICS: dict[str, Callable[[int], str]] = {
    "code": lambda i: f"Write a Python function named helper_{i} that returns the {['sum', 'maximum', 'length'][i % 3]} "
                      f"of a list of {['integers', 'strings', 'floats'][i % 3]} passed as its argument number {i}.",
    "arithmetic": lambda i: f"What is {17 + i} times {23 + 2 * i}? Compute the product and give only the number.",
    "history": lambda i: f"In which year did the {['treaty', 'battle', 'revolution'][i % 3]} number {i} of the "
                         f"{['Roman', 'Ottoman', 'British'][i % 3]} empire take place, and who led it?",
}

# model -> (accuracy per topic, cost per call in USD)
ModelTable = Mapping[str, tuple[Mapping[str, float], float]]


def write_outcomes(path: Path, models: ModelTable, per_topic: int = 50, seed: int = 3) -> Path:
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for topic, make in TOPICS.items():
        for i in range(per_topic):
            gold = "ABCD"[rng.integers(0, 4)]
            for model, (accuracy, price) in models.items():
                right = rng.random() < accuracy[topic]
                letter = gold if right else rng.choice([x for x in "ABCD" if x != gold])
                rows.append({"prompt_id": f"{topic}.{i}", "prompt": make(i), "category": topic,
                             "subcategory": topic, "reference": gold, "model": model,
                             "response": f"The answer is ({letter}).", "pred": letter,
                             "correct": float(right), "input_tokens": None, "output_tokens": None,
                             "cost_usd": price})
    pd.DataFrame(rows).to_parquet(path)
    return path


def train_run(tmp: Path, models: ModelTable) -> Path:
    """``switchboard train`` on the outcomes, exactly as a user runs it; returns the --out directory."""
    import pytest

    from switchboard import cli

    data = write_outcomes(tmp / "outcomes.parquet", models)
    mp = pytest.MonkeyPatch()
    mp.setenv("SB_EMBED_CACHE", str(tmp / "embed-cache"))
    try:
        status = cli.main(["train", "--data", str(data), "--out", str(tmp / "run"), "--no-progress"])
    finally:
        mp.undo()
    assert status == 0
    return tmp / "run"
