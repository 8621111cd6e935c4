"""Training the four-axis taxonomy (``domain.axes``): labels, the fast classifier's heads, suitability.

- Labels of the training prompts: ``domain`` is the dataset's category; ``task`` and ``format`` come from
  the prompt by ``domain.axes``' rules; ``complexity`` is the share of the recorded models that got the
  prompt wrong, in tertiles (known for training prompts only - at request time it is predicted).
- The fast classifier: one multinomial logistic-regression head per axis on the sentence embedding,
  cross-fitted so every training prompt has out-of-fold probabilities (what the dial search reads, as a
  request would), then fitted on every prompt and exported to ONNX (``axes.onnx``: the embedding in, one
  softmax per axis out), which the router runs after the encoder.
- Suitability Phi(model | labels): each model's accuracy per label combination, from the finest
  combination (all four axes) through (domain, complexity) and (domain) to every prompt; each level's
  estimate is shrunk toward its parent's, ``(right + kappa * parent) / (graded + kappa)``, so a combination
  with few prompts says little more than its coarser one. Cross-fitted like the heads for the dial search.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from switchboard.domain.axes import (
    AXES,
    AxisClassifier,
    Suitability,
    complexity_of,
    level_key,
    rule_format,
    rule_task,
)
from switchboard.offline.outcomes import RecordedOutcomes

LEVELS: list[list[str]] = [["domain", "complexity", "task", "format"], ["domain", "complexity"], ["domain"], []]
KAPPA = 20.0


def training_labels(data: RecordedOutcomes) -> dict[str, np.ndarray]:
    """Each training prompt's label on every axis (see the module docstring)."""
    correct = data.labels.correct
    graded = (~np.isnan(correct)).sum(axis=1)
    wrong = np.where(graded > 0, np.nansum(1.0 - correct, axis=1) / np.maximum(graded, 1), 0.5)
    prompts, categories = data.prompts, data.categories
    return {
        "task": np.asarray([rule_task(p, c) for p, c in zip(prompts, categories, strict=True)], dtype=object),
        "complexity": np.asarray([complexity_of(float(w)) for w in wrong], dtype=object),
        "domain": np.asarray([str(c) for c in categories], dtype=object),
        "format": np.asarray([rule_format(p, c) for p, c in zip(prompts, categories, strict=True)], dtype=object),
    }


@dataclass
class AxisHeads:
    """One softmax head per axis over the embedding; ``classes[axis]`` is its output order."""

    classes: dict[str, list[str]]
    weights: dict[str, np.ndarray]  # (d, C)
    biases: dict[str, np.ndarray]  # (C,)

    def predict(self, embeddings: np.ndarray) -> dict[str, np.ndarray]:
        """(n, d) embeddings -> per axis (n, C) probabilities (the ONNX graph computes the same)."""
        out = {}
        for axis in AXES:
            z = np.asarray(embeddings, dtype=np.float32) @ self.weights[axis] + self.biases[axis]
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            out[axis] = (e / e.sum(axis=1, keepdims=True)).astype(float)
        return out

    def to_onnx(self, input_name: str = "embedding") -> bytes:
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        d = next(iter(self.weights.values())).shape[0]
        nodes, inits, outputs = [], [], []
        for axis in AXES:
            w, b = f"{axis}_w", f"{axis}_b"
            inits += [numpy_helper.from_array(self.weights[axis].astype(np.float32), w),
                      numpy_helper.from_array(self.biases[axis].astype(np.float32), b)]
            nodes += [helper.make_node("MatMul", [input_name, w], [f"{axis}_mm"]),
                      helper.make_node("Add", [f"{axis}_mm", b], [f"{axis}_z"]),
                      helper.make_node("Softmax", [f"{axis}_z"], [axis], axis=1)]
            outputs.append(helper.make_tensor_value_info(axis, TensorProto.FLOAT, [None, len(self.classes[axis])]))
        graph = helper.make_graph(nodes, "switchboard_axes",
                                  [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [None, d])],
                                  outputs, initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="switchboard")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model.SerializeToString()


def _fit_axis(embeddings: np.ndarray, labels: np.ndarray, classes: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A softmax head's weights (d, C) and biases (C,) over ``classes``."""
    from sklearn.linear_model import LogisticRegression

    d = embeddings.shape[1]
    present = sorted(set(labels.tolist()))
    if len(present) < 2:  # one label: a head that always says it
        w, b = np.zeros((d, len(classes))), np.full(len(classes), -30.0)
        b[classes.index(present[0])] = 0.0
        return w, b
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(C=1.0, max_iter=500, random_state=seed).fit(embeddings, labels)
    w, b = np.zeros((d, len(classes))), np.full(len(classes), -30.0)
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # sklearn's binary form: one logit; as a softmax, (-z/2, z/2)
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.asarray([-intercept[0] / 2, intercept[0] / 2])
    for row, label in enumerate(model.classes_):
        j = classes.index(label)
        w[:, j], b[j] = coef[row], intercept[row]
    return w, b


def fit_heads(embeddings: np.ndarray, labels: Mapping[str, np.ndarray], seed: int = 0,
              classes: Mapping[str, list[str]] | None = None) -> AxisHeads:
    classes = {a: list(classes[a]) for a in AXES} if classes else {a: sorted(set(labels[a].tolist())) for a in AXES}
    weights, biases = {}, {}
    for axis in AXES:
        weights[axis], biases[axis] = _fit_axis(embeddings, labels[axis], classes[axis], seed)
    return AxisHeads(classes, weights, biases)


def fit_suitability(labels: Mapping[str, np.ndarray], correct: np.ndarray, models: Sequence[str],
                    kappa: float = KAPPA) -> Suitability:
    """Phi per label combination at every level, each shrunk toward its parent level's estimate."""
    n, k = correct.shape
    graded = ~np.isnan(correct)
    right = np.where(graded, correct, 0.0)
    tables: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    rows_of = [{a: str(labels[a][i]) for a in AXES} for i in range(n)]
    for depth, level in enumerate(reversed(LEVELS)):  # coarsest first: every parent exists before its child
        parent_level = list(reversed(LEVELS))[depth - 1] if depth else None
        groups: dict[str, list[int]] = {}
        for i, row in enumerate(rows_of):
            groups.setdefault(level_key(row, level), []).append(i)
        for key, members in groups.items():
            idx = np.asarray(members)
            g, r = graded[idx].sum(axis=0), right[idx].sum(axis=0)
            if parent_level is None:
                prior = np.full(k, 0.5)
                est = (r + 1.0 * prior) / (g + 1.0)
            else:
                prior = np.asarray(tables[level_key(rows_of[members[0]], parent_level)])
                est = (r + kappa * prior) / (g + kappa)
            tables[key], counts[key] = [round(float(x), 6) for x in est], len(members)
    return Suitability(models=list(models), levels=[list(level) for level in LEVELS], tables=tables, counts=counts)


def cross_fit(embeddings: np.ndarray, labels: Mapping[str, np.ndarray], correct: np.ndarray,
              models: Sequence[str], folds: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, AxisHeads,
                                                                     Suitability]:
    """Out-of-fold head probabilities and suitability (each prompt's from the folds it was not in), and the
    heads and suitability fitted on every prompt."""
    n = len(embeddings)
    classes = {a: sorted(set(labels[a].tolist())) for a in AXES}
    fold_of = np.random.default_rng(seed + 7).permutation(n) % folds
    probs = {a: np.zeros((n, len(classes[a]))) for a in AXES}
    phi = np.zeros((n, len(models)))
    for f in range(folds):
        train, test = fold_of != f, fold_of == f
        heads = fit_heads(embeddings[train], {a: labels[a][train] for a in AXES}, seed, classes)
        suit = fit_suitability({a: labels[a][train] for a in AXES}, correct[train], models)
        predicted = heads.predict(embeddings[test])
        for a in AXES:
            probs[a][test] = predicted[a]
        phi[test] = phi_of(predicted, AxisClassifier(classes=classes), suit)[0]
    heads = fit_heads(embeddings, labels, seed, classes)
    return probs, phi, heads, fit_suitability(labels, correct, models)


def phi_of(heads_probs: Mapping[str, np.ndarray], axes: AxisClassifier, suitability: Suitability
           ) -> tuple[np.ndarray, list[dict[str, str]]]:
    """Each prompt's suitability and labels from the heads' probabilities, read as the planner reads them
    (``AxisClassifier.labels``, ``Suitability.phi``)."""
    n = len(next(iter(heads_probs.values())))
    labels = [axes.labels({a: heads_probs[a][i] for a in AXES}) for i in range(n)]
    return np.asarray([suitability.phi(lab) for lab in labels]), labels


WEIGHT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def fit_combine_weight(router_p: np.ndarray, phi: np.ndarray, correct: np.ndarray, cost: np.ndarray,
                       safety_net: int) -> tuple[float, dict[str, float]]:
    """The learned router's weight in combined routing: the one whose best-scored model cheaper than the
    safety net is most often right, on out-of-fold scores (ties to the middle of the grid)."""
    cheap = [j for j in range(len(cost)) if j != safety_net and cost[j] <= cost[safety_net]]
    if not cheap:
        return 0.5, {}
    rows = np.arange(len(router_p))
    scores: dict[str, float] = {}
    for w in WEIGHT_GRID:
        mixed = w * router_p[:, cheap] + (1 - w) * phi[:, cheap]
        pick = np.asarray(cheap)[np.argmax(mixed, axis=1)]
        scores[f"{w:g}"] = round(float(np.nanmean(correct[rows, pick])), 5)
    best = max(WEIGHT_GRID, key=lambda w: (round(scores[f"{w:g}"], 4), -abs(w - 0.5)))
    return float(best), scores


LAMBDAS = (0.25, 0.5, 0.75, 1.0)
MARGINS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.01)


def fused_accuracy(records: Sequence[Mapping], axes: AxisClassifier) -> tuple[float, float]:
    """Label accuracy of ``axes``' gate (its margin and lam) over measured records, and the share of
    prompts that call the slow classifier. A record: the fast distributions per axis (``fast``), the slow
    classifier's label per axis (``slow``, None where it gave none) and the true labels (``truth``)."""
    from switchboard.domain.axes import fuse

    right, total, calls = 0, 0, 0
    for record in records:
        fast = {a: np.asarray(p) for a, p in record["fast"].items()}
        unsure = axes.unsure(fast) if axes.lam > 0 else []
        calls += bool(unsure)
        for axis, p in fast.items():
            label = record["slow"].get(axis)
            if axis in unsure and label in axes.classes[axis]:
                slow = np.zeros(len(p))
                slow[axes.classes[axis].index(label)] = 1.0
                p = fuse(p, slow, axes.lam)
            right += int(axes.classes[axis][int(np.argmax(p))] == record["truth"][axis])
            total += 1
    return right / max(total, 1), calls / max(len(records), 1)


def fit_slow_gate(records: Sequence[Mapping], classes: Mapping[str, list[str]], slow_model: str) -> dict:
    """The slow classifier's weight and margin: the most accurate fused labels on ``records`` (at 0.1-pt
    resolution), then the fewest slow calls. Returns them with the grid measured."""
    grid = []
    for lam in LAMBDAS:
        for m in MARGINS:
            acc, rate = fused_accuracy(records, AxisClassifier(classes=dict(classes), margin=m, lam=lam,
                                                               slow_model=slow_model))
            grid.append({"lam": lam, "margin": m, "accuracy": round(acc, 4), "call_rate": round(rate, 4)})
    fast_acc, _ = fused_accuracy(records, AxisClassifier(classes=dict(classes)))
    best = max(grid, key=lambda g: (round(g["accuracy"], 3), -g["call_rate"], -g["margin"]))
    if best["accuracy"] <= fast_acc:  # the slow classifier does not help: never ask it
        best = {"lam": 0.0, "margin": 0.0, "accuracy": round(fast_acc, 4), "call_rate": 0.0}
    return {"slow_model": slow_model, "lam": best["lam"], "margin": best["margin"],
            "fast_accuracy": round(fast_acc, 4), "fused_accuracy": best["accuracy"], "call_rate": best["call_rate"],
            "grid": grid}
