"""Training the four-axis taxonomy: labels from categories, rules and outcomes; heads whose ONNX export
computes what they compute; suitability shrunk toward coarser combinations; the combined-routing weight."""

from __future__ import annotations

import numpy as np
import pytest

from switchboard.domain.axes import AXES
from switchboard.offline.taxonomy_axes import fit_combine_weight, fit_heads, fit_suitability


def _labels(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"task": np.asarray(["knowledge"] * n, dtype=object),  # one label: a constant head
            "complexity": rng.choice(["low", "medium", "high"], n).astype(object),
            "domain": np.asarray(["law" if i % 2 else "math" for i in range(n)], dtype=object),
            "format": np.asarray(["multiple_choice"] * n, dtype=object)}


def test_heads_learn_the_axes_and_their_onnx_export_computes_the_same(tmp_path):
    import onnxruntime as ort

    rng = np.random.default_rng(1)
    labels = _labels(200)
    e = rng.normal(size=(200, 8)).astype(np.float32)
    e[:, 0] += np.where(labels["domain"] == "law", 3.0, -3.0)  # the domain is written in the embedding
    heads = fit_heads(e, labels)
    probs = heads.predict(e)
    assert set(probs) == set(AXES)
    assert (np.asarray(heads.classes["domain"])[probs["domain"].argmax(axis=1)] == labels["domain"]).mean() > 0.95
    assert probs["task"][:, heads.classes["task"].index("knowledge")] == pytest.approx(1.0)
    (tmp_path / "axes.onnx").write_bytes(heads.to_onnx())
    session = ort.InferenceSession(str(tmp_path / "axes.onnx"), providers=["CPUExecutionProvider"])
    outputs = dict(zip(list(AXES), session.run(list(AXES), {"embedding": e}), strict=True))
    for axis in AXES:
        assert outputs[axis] == pytest.approx(probs[axis], abs=1e-5)


def test_suitability_of_a_thin_combination_is_shrunk_toward_its_parent():
    n = 400
    labels = _labels(n)
    labels["complexity"] = np.asarray(["low"] * (n - 2) + ["high"] * 2, dtype=object)
    correct = np.zeros((n, 2))
    correct[:, 1] = 1.0  # model 1 always right ...
    correct[-2:, 1] = 0.0  # ... except on the two hard prompts
    suit = fit_suitability(labels, correct, ["a", "b"], kappa=20.0)
    hard = {"task": "knowledge", "complexity": "high", "domain": "law", "format": "multiple_choice"}
    parent = suit.tables["domain=law"][1]
    assert parent > 0.95
    # one hard law prompt, wrong: (0 + 20 * parent) / (1 + 20), not 0
    assert suit.tables["domain=law|complexity=high"][1] == pytest.approx(20 * parent / 21, abs=1e-5)
    assert suit.phi(hard)[1] == pytest.approx(suit.tables[
        "domain=law|complexity=high|task=knowledge|format=multiple_choice"][1])
    assert suit.phi({**hard, "domain": "unseen"})[1] == pytest.approx(suit.tables["*"][1])


def test_the_combined_weight_is_the_one_whose_top_cheap_model_is_most_often_right():
    n = 300
    rng = np.random.default_rng(2)
    truth = rng.random((n, 3)) < 0.5
    correct = truth.astype(float)
    router = np.clip(correct + rng.normal(0, 0.2, (n, 3)), 0, 1)  # informative
    phi = rng.random((n, 3))  # noise
    weight, scores = fit_combine_weight(router, phi, correct, np.array([1.0, 1.0, 9.0]), safety_net=2)
    assert weight >= 0.75 and scores["1"] > scores["0.5"] > scores["0"]
    weight, _ = fit_combine_weight(phi, router, correct, np.array([1.0, 1.0, 9.0]), safety_net=2)
    assert weight <= 0.25
