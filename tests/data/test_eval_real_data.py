"""Reduced evaluation on the real routing-outcome data (../shared/data relative to the project root).

Run with ``pytest -m data tests/data``. Embeddings come from the packaged encoder through the on-disk
cache (the first run embeds the prompts: a few minutes on 2 cores)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.data

ROOT = Path(__file__).resolve().parents[2]
DATA = (ROOT / ".." / "shared" / "data").resolve()

# The data README's tables: model -> (accuracy, cost per 1k prompts in USD).
README = {
    "mmlu_pro": {
        "Mixtral-8x7B-Instruct-v0.1": (0.440, 0.102), "Meta-Llama-3_1-8B-Instruct": (0.455, 0.031),
        "Qwen1.5-72B-Chat": (0.495, 0.153), "jamba-1.5-large": (0.516, 0.616),
        "deepseek-chat-v2": (0.543, 0.086), "DeepSeek-Coder-V2": (0.634, 0.076),
        "Meta-Llama-3_1-70B-Instruct": (0.638, 0.150), "gemini-1.5-flash-002": (0.656, 0.039),
        "gemini-1.5-pro-002": (0.719, 0.531), "gpt-4o-2024-05-13": (0.728, 6.508)},
    "routerbench": {
        "claude-v2": (0.543, 3.792), "WizardLM/WizardLM-13B-V1.2": (0.563, 0.123),
        "mistralai/mistral-7b-chat": (0.576, 0.081), "meta/code-llama-instruct-34b-chat": (0.601, 0.311),
        "meta/llama-2-70b-chat": (0.611, 0.376), "claude-instant-v1": (0.669, 0.365),
        "claude-v1": (0.723, 3.571), "gpt-3.5-turbo-1106": (0.733, 0.419),
        "mistralai/mixtral-8x7b-chat": (0.737, 0.248), "zero-one-ai/Yi-34B-Chat": (0.773, 0.329),
        "gpt-4-1106-preview": (0.878, 5.001)},
}
PROMPTS = {"mmlu_pro": 7242, "routerbench": 2186}


def _path(name: str) -> Path:
    path = DATA / name / "dev.parquet"
    if not path.exists():
        pytest.skip(f"routing-outcome data not found at {path} (expected ../shared/data from the project root)")
    return path


@pytest.mark.parametrize("name", ["mmlu_pro", "routerbench"])
def test_single_models_match_the_data_readme(name):
    from switchboard.offline.evaluation.metrics import accuracy, cost_per_1k
    from switchboard.offline.outcomes import load_outcomes

    data = load_outcomes(_path(name))
    assert data.n == PROMPTS[name] and sorted(data.models) == sorted(README[name])
    for j, model in enumerate(data.models):
        acc, cost = README[name][model]
        # the README rounds to 3 decimals (gpt-4's 0.87747 is printed as 0.878)
        assert accuracy(data.labels.correct[:, j]) == pytest.approx(acc, abs=1.5e-3), model
        assert cost_per_1k(data.cost[:, j]) == pytest.approx(cost, abs=1.5e-3), model


@pytest.mark.parametrize("name,max_prompts", [("routerbench", None), ("mmlu_pro", 2400)])
def test_reduced_eval(name, max_prompts, tmp_path):
    from switchboard.offline.embeddings import embed_prompts
    from switchboard.offline.evaluation.evaluate import evaluate
    from switchboard.offline.evaluation.plots import pareto_plot
    from switchboard.offline.evaluation.results import write_results
    from switchboard.offline.outcomes import load_outcomes, load_prices, split_rows

    path = _path(name)
    data = load_outcomes(path)
    if max_prompts is not None:  # a fixed subsample keeps the test to a few minutes
        keep, _ = split_rows(data.prompt_ids, 1 - max_prompts / data.n, seed=1)
        data = data.subset(keep)
    prices = load_prices(path.parent / "models.json") if (path.parent / "models.json").exists() else {}
    tr, va = split_rows(data.prompt_ids, 0.3, seed=7)
    emb = embed_prompts(data.prompts, progress=False)
    results, _ = evaluate(data.subset(tr), data.subset(va), emb[tr], emb[va], prices, name, progress=False,
                          artifacts_dir=tmp_path / "artifacts")
    if name == "routerbench":
        # the cascade a deployment runs is the one measured: the dial's profiles replayed through the local
        # stack (synthesised state machine, the five handlers) reach the offline replay's decisions
        from switchboard.offline.evaluation.via_stack import via_stack

        # the balanced point with a POMDP-style meta-verifier at its costly decision (an accept band no bar
        # expresses), so the stack is shown to run a meta-verifier as the replay does
        dial_path = tmp_path / "artifacts" / "dial.json"
        dial = json.loads(dial_path.read_text())
        band = {"xs": [0.0, 0.4, 0.4001, 0.8, 0.8001, 1.0], "ys": [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]}
        for point in dial["points"]:
            if point["name"] == dial["profiles"]["balanced"] and point["models"] >= 2 and not point["meta"]:
                point["meta"] = {"*": band}
        dial_path.write_text(json.dumps(dial))
        results["via_stack"] = via_stack(tmp_path / "artifacts", data.subset(va), emb[va], n=25, seed=7,
                                         progress=False)
        assert {row["profile"] for row in results["via_stack"]} == {"economy", "balanced", "best"}
        for row in results["via_stack"]:
            assert row["errors"] == 0 and row["same_decisions"] >= 0.99, row
            assert row["stack"] == row["offline"], row
    write_results(results, tmp_path)
    pareto_plot(results, tmp_path / "pareto.png")
    loaded = json.loads((tmp_path / "results.json").read_text())

    assert loaded["dataset"] == name and loaded["prompts"] == len(va)
    strategies = loaded["strategies"]
    for s in strategies:
        assert set(s) == {"name", "kind", "accuracy", "cost_per_1k_usd", "escalation_rate", "params"}
        assert s["kind"] in {"single", "oracle", "baseline", "switchboard"}
        assert isinstance(s["params"], dict)
    oracle = next(s for s in strategies if s["kind"] == "oracle")
    assert all(s["accuracy"] <= oracle["accuracy"] + 1e-9 for s in strategies)
    singles = [s for s in strategies if s["kind"] == "single"]
    assert len(singles) == data.k
    test = data.subset(va)
    for s in singles:
        j = test.models.index(s["name"])
        assert s["accuracy"] == pytest.approx(float(np.nanmean(test.labels.correct[:, j])), abs=1e-4)
    best = max(singles, key=lambda s: s["accuracy"])
    sb = [s for s in strategies if s["kind"] == "switchboard"]
    # sanity: Switchboard's dial spans cheap to expensive and its best point is close to the best model
    assert min(s["cost_per_1k_usd"] for s in sb) < best["cost_per_1k_usd"] / 10
    assert max(s["accuracy"] for s in sb) >= best["accuracy"] - 0.02
    assert loaded["aiq"]["switchboard (all points)"] > loaded["aiq"]["random"]
    assert {"avengers-pro", "cascade-routing"} <= set(loaded["aiq"])
    assert (tmp_path / "pareto.png").stat().st_size > 10_000
