"""Switchboard's routers over prompt embeddings: the taxonomy (centroids, per-category accuracy, cost and
tiers) and the learned router (a multi-label MLP, cross-fitted, exported to ONNX). The baselines' routers
live in ``offline.baselines.prompt_routers`` and use the same embeddings.

Every router exposes ``predict(E) -> (n, k)`` per-model P(correct); choosing a model from those
probabilities and prices is ``choose_by_utility``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from switchboard.domain.taxonomy import Category, centroid


def nanmean_or(x: np.ndarray, axis: int = 0, default: float = 0.5) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.nanmean(x, axis=axis)
    return np.where(np.isnan(out), default, out)


def fill_labels(correct: np.ndarray) -> np.ndarray:
    """Ungraded calls (NaN) take the model's mean accuracy, so they carry no evidence either way."""
    means = nanmean_or(correct, axis=0)
    return np.where(np.isnan(correct), means[None, :], correct)


def choose_by_utility(probs: np.ndarray, costs: np.ndarray, lam: float) -> np.ndarray:
    """Per prompt, the model maximising P(correct) - lam * cost (RouterBench's willingness-to-pay rule).

    ``costs`` is (k,) expected cost per call in USD per 1k prompts, or (n, k). Ties go to the cheaper model.
    """
    costs = np.broadcast_to(np.asarray(costs, dtype=float), probs.shape)
    utility = probs - lam * costs - 1e-12 * costs
    return np.argmax(utility, axis=1)


# ---------------------------------------------------------------------------------------------- taxonomy


@dataclass
class Taxonomy:
    """Categories with centroids, per-model accuracy and mean cost (USD per call), and a tier list.

    ``assign`` is nearest-centroid by cosine similarity, the same rule as the router Lambda's
    ``CentroidIndex``; the category labels of the data are read only when building it.
    """

    names: list[str]
    models: list[str]
    centroids: np.ndarray  # (c, d) unit vectors
    accuracy: np.ndarray  # (c, k)
    cost: np.ndarray  # (c, k) USD per call
    counts: np.ndarray  # (c,)
    tiers: list[list[str]] = field(default_factory=list)
    min_similarity: list[float | None] = field(default_factory=list)

    def assign(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sims = np.asarray(embeddings, dtype=np.float32) @ self.centroids.T
        idx = np.argmax(sims, axis=1)
        return idx, sims[np.arange(len(idx)), idx]

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """Per-model accuracy of each prompt's nearest category (n, k)."""
        idx, _ = self.assign(embeddings)
        return self.accuracy[idx]

    def expected_cost(self, embeddings: np.ndarray) -> np.ndarray:
        idx, _ = self.assign(embeddings)
        return self.cost[idx]

    def to_categories(self) -> list[Category]:
        return [Category(name=name, centroid=[round(float(x), 6) for x in self.centroids[c]],
                         tiers=self.tiers[c] if self.tiers else [self.models[int(np.argmax(self.accuracy[c]))]],
                         accuracy={m: round(float(self.accuracy[c, j]), 4) for j, m in enumerate(self.models)},
                         cost_usd={m: float(f"{self.cost[c, j]:.6g}") for j, m in enumerate(self.models)},
                         examples=int(self.counts[c]),
                         min_similarity=self.min_similarity[c] if self.min_similarity else None)
                for c, name in enumerate(self.names)]

    @classmethod
    def from_categories(cls, categories: Sequence[Category], models: Sequence[str]) -> Taxonomy:
        models = list(models)
        return cls(names=[c.name for c in categories], models=models,
                   centroids=np.asarray([c.centroid for c in categories], dtype=np.float32),
                   accuracy=np.asarray([[c.accuracy.get(m, 0.0) for m in models] for c in categories]),
                   cost=np.asarray([[c.cost_usd.get(m, 0.0) for m in models] for c in categories]),
                   counts=np.asarray([c.examples for c in categories]),
                   tiers=[list(c.tiers) for c in categories],
                   min_similarity=[c.min_similarity for c in categories])


# What judging a tier costs, as a multiple of the tier's own call: on the request path each tier is
# checked by k=3 self-verification samples over prompt + answer and by an LLM judge, at least as much as
# the call itself.
JUDGE_OVERHEAD = 1.0


def efficient_tiers(accuracy: np.ndarray, cost: np.ndarray, models: Sequence[str], max_tiers: int = 4,
                    margin: float = 0.01, judge_overhead: float = JUDGE_OVERHEAD) -> list[str]:
    """"Cheapest likely good first": the tiers of one category's cascade, ending with its most accurate
    model (the safety net).

    Starts from the cost-accuracy frontier (a model is kept only if it beats every cheaper kept model by
    ``margin``), then drops every tier that does not pay for itself as the first try before the next one:
    trying model j first saves the next tier's cost only when j is right, and costs its call plus its
    judges every time, so j stays only if ``accuracy[j] * cost[next] > (1 + judge_overhead) * cost[j]``
    (the cascade condition). A 30%-accurate model at half the price of a 90%-accurate one is on the
    frontier but not worth a try. When more than ``max_tiers`` remain, the cheapest are dropped first.
    """
    order = np.lexsort((-accuracy, cost))
    kept: list[int] = []
    for j in order:
        if not kept or accuracy[j] > accuracy[kept[-1]] + margin:
            kept.append(int(j))
    best = int(np.argmax(accuracy))
    if kept[-1] != best:
        kept.append(best)
    changed = True
    while changed and len(kept) > 1:
        changed = False
        for pos in range(len(kept) - 1):
            j, nxt = kept[pos], kept[pos + 1]
            if accuracy[j] * cost[nxt] <= (1.0 + judge_overhead) * cost[j]:
                del kept[pos]
                changed = True
                break
    kept = kept[-max_tiers:]
    return [models[j] for j in kept]


FAMILIAR_PERCENTILE = 10.0


def build_taxonomy(embeddings: np.ndarray, labels: Sequence[str] | np.ndarray, correct: np.ndarray, cost: np.ndarray,
                   models: Sequence[str], max_tiers: int = 4, min_examples: int = 5) -> Taxonomy:
    """One category per label with at least ``min_examples`` prompts (centroid = normalised mean).

    Each category's ``min_similarity`` is the ``FAMILIAR_PERCENTILE``-th percentile of its own prompts'
    similarity to its centroid; the router uses it to lower its familiarity bar for broad categories
    (``domain.taxonomy.is_familiar``).
    """
    label_of = np.asarray(labels, dtype=object)
    names = sorted(n for n in set(label_of) if int((label_of == n).sum()) >= min_examples) or sorted(set(label_of))
    cents, accs, costs, counts, tiers = [], [], [], [], []
    bars: list[float | None] = []
    for name in names:
        mask = np.asarray(label_of == name)
        cents.append(centroid(embeddings[mask]))
        own = np.asarray(embeddings[mask], dtype=np.float32) @ cents[-1]
        bars.append(round(float(np.percentile(own, FAMILIAR_PERCENTILE)), 4))
        acc = nanmean_or(correct[mask], axis=0)
        cst = cost[mask].mean(axis=0)
        accs.append(acc)
        costs.append(cst)
        counts.append(int(mask.sum()))
        tiers.append(efficient_tiers(acc, cst, list(models), max_tiers=max_tiers))
    return Taxonomy(names=list(names), models=list(models), centroids=np.asarray(cents, dtype=np.float32),
                    accuracy=np.asarray(accs), cost=np.asarray(costs), counts=np.asarray(counts), tiers=tiers,
                    min_similarity=bars)


# ---------------------------------------------------------------------------------------------- learned


class MlpRouter:
    """EMAFusion's multi-output predictor: one network maps a prompt embedding to every model's
    P(correct) (a multi-label MLP with logistic outputs), exported to ONNX for the router Lambda."""

    def __init__(self, hidden: int = 128, alpha: float = 1e-2, max_iter: int = 300, seed: int = 0) -> None:
        self.hidden, self.alpha, self.max_iter, self.seed = hidden, alpha, max_iter, seed
        self.model: Any = None  # sklearn's MLPClassifier once fitted
        self.prior: np.ndarray | None = None

    def fit(self, embeddings: np.ndarray, correct: np.ndarray) -> MlpRouter:
        from sklearn.neural_network import MLPClassifier

        y = np.rint(fill_labels(correct)).astype(int)
        self.prior = nanmean_or(correct, axis=0)
        self.model = MLPClassifier(hidden_layer_sizes=(self.hidden,), alpha=self.alpha, max_iter=self.max_iter,
                                   early_stopping=True, validation_fraction=0.15, n_iter_no_change=15,
                                   learning_rate_init=1e-3, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(np.asarray(embeddings, dtype=np.float32), y)
        return self

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        assert self.model is not None, "fit first"
        probs = self.model.predict_proba(np.asarray(embeddings, dtype=np.float32))
        return np.asarray(probs, dtype=float).reshape(len(embeddings), -1)

    def to_onnx(self, input_name: str = "embedding") -> bytes:
        """ONNX graph: float32 (batch, d) -> ``probabilities`` (batch, k)."""
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType

        d = self.model.coefs_[0].shape[0]
        onx = to_onnx(self.model, initial_types=[(input_name, FloatTensorType([None, d]))],
                      options={id(self.model): {"zipmap": False}}, target_opset=17)
        k = self.model.coefs_[-1].shape[1]
        for output in onx.graph.output:  # skl2onnx declares the multi-label 'label' output as 1-d
            if output.name == "label":
                dims = output.type.tensor_type.shape.dim
                del dims[:]
                dims.add().dim_param = "N"
                dims.add().dim_value = k
        return onx.SerializeToString()


def cross_fit(make, embeddings: np.ndarray, correct: np.ndarray, folds: int = 5,  # noqa: ANN001
              seed: int = 0) -> tuple[np.ndarray, list]:
    """Out-of-fold predictions of ``make().fit(...)`` on the training prompts themselves (so models
    stacked on top - verifier, calibration, dial - never see a router that memorised their labels), and
    the fold models, whose average is the router used on new prompts: its outputs are distributed like
    the out-of-fold ones the stacked models were fitted on (a router refitted on every prompt trains
    for a different number of epochs and shifts its outputs, which the verifier would misread)."""
    n = len(embeddings)
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(n) % folds
    out = np.zeros(correct.shape, dtype=float)
    members = []
    for f in range(folds):
        train = fold_of != f
        router = make().fit(embeddings[train], correct[train])
        out[~train] = router.predict(embeddings[~train])
        members.append(router)
    return out, members


def cross_fit_predict(make, embeddings: np.ndarray, correct: np.ndarray, folds: int = 5,  # noqa: ANN001
                      seed: int = 0) -> np.ndarray:
    return cross_fit(make, embeddings, correct, folds, seed)[0]


class RouterEnsemble:
    """Mean of the cross-fitted ``MlpRouter`` folds; ``to_onnx`` writes the whole ensemble as one graph
    (each member: MatMul, Add, ReLU, MatMul, Add, Sigmoid; then the mean)."""

    def __init__(self, members: Sequence[MlpRouter]) -> None:
        self.members = list(members)

    @property
    def model(self):  # noqa: ANN201 - the first member's network (input dimension for metadata)
        return self.members[0].model

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        return np.mean([m.predict(embeddings) for m in self.members], axis=0)

    def to_onnx(self, input_name: str = "embedding", output_name: str = "probabilities") -> bytes:
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        nodes, inits, outs = [], [], []
        d = self.members[0].model.coefs_[0].shape[0]
        k = self.members[0].model.coefs_[-1].shape[1]
        for i, member in enumerate(self.members):
            net = member.model
            if net.activation != "relu" or net.out_activation_ != "logistic":
                raise ValueError("only relu MLPs with logistic outputs are exported")
            h = input_name
            for layer, (w, b) in enumerate(zip(net.coefs_, net.intercepts_, strict=True)):
                wn, bn = f"m{i}_w{layer}", f"m{i}_b{layer}"
                inits += [numpy_helper.from_array(w.astype(np.float32), wn),
                          numpy_helper.from_array(b.astype(np.float32), bn)]
                nodes.append(helper.make_node("MatMul", [h, wn], [f"m{i}_mm{layer}"]))
                nodes.append(helper.make_node("Add", [f"m{i}_mm{layer}", bn], [f"m{i}_z{layer}"]))
                last = layer == len(net.coefs_) - 1
                h = f"m{i}_p" if last else f"m{i}_h{layer}"
                nodes.append(helper.make_node("Sigmoid" if last else "Relu", [f"m{i}_z{layer}"], [h]))
            outs.append(h)
        nodes.append(helper.make_node("Mean", outs, [output_name]))
        graph = helper.make_graph(nodes, "switchboard_router",
                                  [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [None, d])],
                                  [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [None, k])],
                                  initializer=inits)
        onx = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="switchboard")
        onx.ir_version = 8
        onnx.checker.check_model(onx)
        return onx.SerializeToString()
