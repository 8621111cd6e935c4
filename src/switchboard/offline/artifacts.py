"""What ``switchboard train`` writes, how to load it back, and DynamoDB items for the Taxonomy and Catalog
tables.

Files in the output directory:

- ``taxonomy.json``: ``{"categories": [Category, ...]}`` (``switchboard.domain.taxonomy.Category``: name,
  centroid (384 floats), tiers (cheapest likely good first, most accurate last), per-model accuracy and
  mean cost in USD per call, examples). ``switchboard.local.seed.load_taxonomy`` reads it as is.
- ``router.onnx`` + ``router.json``: the learned router. Input ``embedding`` float32 (batch, 384): the
  MiniLM embedding of ``routing_text(prompt)``; output ``probabilities`` float32 (batch, k): P(correct) per
  model, in the order of ``router.json["models"]`` (the format ``adapters.learned.OnnxLearnedRouter`` reads).
- ``verifier.onnx`` + ``verifier.json``: the learned verifier. Input ``features`` float32 (batch, F) built by
  ``domain.fusion.verifier_features`` (names in ``verifier.json["features"]``); output ``probability``
  float32 (batch, 1) = P(candidate answer correct). The answer features it reads
  (``domain.answer_features.AnswerFeatures``: the projection of answer embeddings, the log-probability)
  are in ``verifier.json["answer_features"]`` and, with the feature names, in the ONNX model's metadata -
  so the file's sha256, which names the verifier in the dial, changes whenever its inputs do.
- ``axes.onnx``: the four-axis taxonomy's fast classifier (``domain.axes``): input ``embedding`` as the
  router's; one softmax output per axis (``task``, ``complexity``, ``domain``, ``format``), over the label
  sets in ``dial.json["axes"]["classes"]``; the suitability table is ``dial.json["suitability"]``.
- ``dial.json``: the deployable policy, a ``domain.dial.Dial``: the operating points (order, pair start,
  models, thresholds, expected accuracy and cost on the training prompts, per-category settings), the
  profiles (economy, balanced, best), the tier orders (global and per category), the calibration knots
  and verdict weights for ``decision.aggregate_confidence``, and the sha256 of the verifier they belong to;
  plus what training measured. ``switchboard publish`` writes it to the Policy table.
- ``catalog.json``: ``[ModelEntry, ...]`` (provider "replay" for recorded models, prices per 1M tokens).
- ``dynamodb/taxonomy_items.json``, ``dynamodb/catalog_items.json``: the tables' items in DynamoDB's
  attribute-value JSON (``put_item(Item=...)`` / ``batch-write-item`` ready).

DynamoDB item format (the one ``adapters.stores.dynamo`` reads): the whole object is one JSON string
attribute ``body`` (S), so floats never meet DynamoDB's Decimal rules - the 384-number centroid travels
inside that JSON string. Taxonomy: ``category`` (S, partition key), ``body`` (S: Category JSON), and for
people browsing the table ``tiers`` (L of S). Catalog: ``model_id`` (S, partition key), ``body`` (S:
ModelEntry JSON), ``provider`` (S).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from switchboard.adapters.learned import (
    ANSWER_FEATURES_KEY,
    FEATURES_KEY,
    OnnxAxisHeads,
    OnnxLearnedRouter,
    OnnxVerifier,
    file_sha256,
)
from switchboard.domain.catalog import ModelEntry, ModelPrice
from switchboard.domain.dial import Dial, OperatingPoint
from switchboard.domain.fusion import feature_names
from switchboard.domain.taxonomy import ROUTING_TEXT_CHARS, Category
from switchboard.offline.embeddings import DEFAULT_TAG
from switchboard.offline.fit import System

ROUTER_INPUT = "embedding"
ROUTER_OUTPUT = "probabilities"
VERIFIER_INPUT = "features"
VERIFIER_OUTPUT = "probability"


# ------------------------------------------------------------------------------------------- ONNX


def hgb_to_onnx(model, n_features: int, input_name: str = VERIFIER_INPUT,  # noqa: ANN001
                output_name: str = VERIFIER_OUTPUT, metadata: dict[str, str] | None = None) -> bytes:
    """Binary ``HistGradientBoostingClassifier`` -> ONNX (ai.onnx.ml TreeEnsembleRegressor + Sigmoid).

    skl2onnx's own converter fails on this scikit-learn version's tree attributes, so the trees are
    written directly: each split ``x <= t`` goes left (missing values follow the tree's learned side);
    thresholds are rounded *down* to float32 so a float32 input compares exactly as scikit-learn's float64
    comparison does. Raw score = baseline + sum of leaf values; output = sigmoid(raw score). ``metadata``
    goes into the model's metadata properties (what its inputs are).
    """
    import onnx
    from onnx import TensorProto, helper

    if getattr(model, "n_trees_per_iteration_", 1) != 1:
        raise ValueError("only binary classifiers are supported")
    attrs: dict[str, list] = {k: [] for k in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
        "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
        "target_treeids", "target_nodeids", "target_ids", "target_weights")}
    for tree_id, predictors in enumerate(model._predictors):
        nodes = predictors[0].nodes
        for node_id, node in enumerate(nodes):
            attrs["nodes_treeids"].append(tree_id)
            attrs["nodes_nodeids"].append(node_id)
            if node["is_leaf"]:
                attrs["nodes_featureids"].append(0)
                attrs["nodes_values"].append(0.0)
                attrs["nodes_modes"].append("LEAF")
                attrs["nodes_truenodeids"].append(0)
                attrs["nodes_falsenodeids"].append(0)
                attrs["nodes_missing_value_tracks_true"].append(0)
                attrs["target_treeids"].append(tree_id)
                attrs["target_nodeids"].append(node_id)
                attrs["target_ids"].append(0)
                attrs["target_weights"].append(float(node["value"]))
            else:
                if node["is_categorical"]:
                    raise ValueError("categorical splits are not supported")
                t64 = float(node["num_threshold"])
                t32 = np.float32(t64)
                if float(t32) > t64:
                    t32 = np.nextafter(t32, np.float32(-np.inf))
                attrs["nodes_featureids"].append(int(node["feature_idx"]))
                attrs["nodes_values"].append(float(t32))
                attrs["nodes_modes"].append("BRANCH_LEQ")
                attrs["nodes_truenodeids"].append(int(node["left"]))
                attrs["nodes_falsenodeids"].append(int(node["right"]))
                attrs["nodes_missing_value_tracks_true"].append(int(bool(node["missing_go_to_left"])))
    baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
    trees = helper.make_node("TreeEnsembleRegressor", [input_name], ["raw"], domain="ai.onnx.ml",
                             n_targets=1, post_transform="NONE", aggregate_function="SUM",
                             base_values=[baseline], **attrs)  # type: ignore[arg-type]  # onnx's stub types
    sigmoid = helper.make_node("Sigmoid", ["raw"], [output_name])
    graph = helper.make_graph(
        [trees, sigmoid], "switchboard_verifier",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [None, 1])])
    onx = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
                            producer_name="switchboard")
    onx.ir_version = 8
    if metadata:
        helper.set_model_props(onx, dict(metadata))
    onnx.checker.check_model(onx)
    return onx.SerializeToString()


# ------------------------------------------------------------------------------------------- items


def catalog_entries(models: Sequence[str], prices: dict[str, dict[str, float]]) -> list[ModelEntry]:
    """Catalog entries of recorded models: provider ``replay``, provider_model = the recorded model name."""
    return [ModelEntry(model_id=m, provider="replay", provider_model=m,
                       price=ModelPrice(**prices.get(m, {"input_usd_per_mtok": 0.0, "output_usd_per_mtok": 0.0})))
            for m in models]


def taxonomy_items(categories: Iterable[Category]) -> list[dict[str, Any]]:
    """Taxonomy table items (attribute-value JSON): category (S, key), body (S: Category JSON), tiers (L)."""
    return [{"category": {"S": c.name}, "body": {"S": c.model_dump_json()},
             "tiers": {"L": [{"S": t} for t in c.tiers]}} for c in categories]


def catalog_items(entries: Iterable[ModelEntry]) -> list[dict[str, Any]]:
    """Catalog table items: model_id (S, key), body (S: ModelEntry JSON), provider (S)."""
    return [{"model_id": {"S": e.model_id}, "body": {"S": e.model_dump_json()}, "provider": {"S": e.provider}}
            for e in entries]


def put_items(client, table: str, items: Iterable[dict[str, Any]]) -> int:  # noqa: ANN001 - boto3 client
    """Write items with an injected boto3 DynamoDB client (``boto3.client("dynamodb")``)."""
    count = 0
    for item in items:
        client.put_item(TableName=table, Item=item)
        count += 1
    return count


# ------------------------------------------------------------------------------------------- write / load


def write_artifacts(system: System, out_dir: str | Path, dataset: str = "") -> Path:
    out = Path(out_dir)
    (out / "dynamodb").mkdir(parents=True, exist_ok=True)
    categories = system.taxonomy.to_categories()
    (out / "taxonomy.json").write_text(json.dumps(
        {"source": dataset, "categories": [c.model_dump() for c in categories]}, indent=1) + "\n", encoding="utf-8")

    (out / "router.onnx").write_bytes(system.router.to_onnx(ROUTER_INPUT))
    dim = int(system.router.model.coefs_[0].shape[0])
    (out / "router.json").write_text(json.dumps({
        "models": system.models, "input_name": ROUTER_INPUT, "output_name": ROUTER_OUTPUT,
        "input": {"dim": dim, "dtype": "float32", "encoder": DEFAULT_TAG,
                  "text": f"switchboard.domain.taxonomy.routing_text(prompt, max_chars={ROUTING_TEXT_CHARS}): "
                          "the last user message, or its last ~1000 characters from a paragraph break"},
        "output": "P(correct) per model, in the order of 'models'",
        "model": "mean of the cross-fitted multi-label MLPs (EMAFusion multi-output predictor)"}, indent=1) + "\n", encoding="utf-8")

    if system.heads is not None:  # the four-axis taxonomy's fast classifier (domain.axes)
        (out / "axes.onnx").write_bytes(system.heads.to_onnx(ROUTER_INPUT))

    answer_features = system.verifier.answer_features
    names = feature_names(system.models, answer_features)
    (out / "verifier.onnx").write_bytes(hgb_to_onnx(system.verifier.model, len(names), metadata={
        FEATURES_KEY: json.dumps(names), ANSWER_FEATURES_KEY: answer_features.model_dump_json()}))
    (out / "verifier.json").write_text(json.dumps({
        "input_name": VERIFIER_INPUT, "output_name": VERIFIER_OUTPUT, "features": names, "models": system.models,
        "answer_features": answer_features.model_dump(mode="json"), "answer_feature_groups": answer_features.groups(),
        "builder": "switchboard.domain.fusion.verifier_features (+ domain.answer_features.answer_block)",
        "model": "histogram gradient-boosted trees, P(candidate answer correct)",
        "kind": "verifier"}, indent=1) + "\n", encoding="utf-8")

    entries = catalog_entries(system.models, system.prices)
    (out / "catalog.json").write_text(json.dumps([e.model_dump() for e in entries], indent=1) + "\n",
                                      encoding="utf-8")
    # The deployable policy (``domain.dial.Dial``, published to the Policy table) with what training
    # measured beside it; the extra keys are ignored when the dial is loaded.
    dial = system.dial(verifier_sha256=file_sha256(out / "verifier.onnx")).model_dump(mode="json")
    dial.update({
        "source": dataset,
        "semantics": ("cascade = first (models - 1) models of the prompt's order, then the order's last "
                      "model (safety net); pair_start: the second model is tier 0's agreement judge; a tier "
                      "accepts when aggregate_confidence(verdicts, weights, calibration) >= its threshold: "
                      "'last' before the final tier, 'cheap' elsewhere, 'final' at the final tier "
                      "(domain.dial.lay_out)"),
        "train_models": {m: {"accuracy": round(float(a), 4), "mean_cost_usd": float(f"{c:.6g}")}
                         for m, a, c in zip(system.models, system.train_accuracy, system.mean_cost, strict=True)},
        "stats": system.stats,
    })
    (out / "dial.json").write_text(json.dumps(dial, indent=1) + "\n", encoding="utf-8")
    (out / "dynamodb" / "taxonomy_items.json").write_text(json.dumps(taxonomy_items(categories)) + "\n",
                                                          encoding="utf-8")
    (out / "dynamodb" / "catalog_items.json").write_text(json.dumps(catalog_items(entries), indent=1) + "\n",
                                                         encoding="utf-8")
    return out


@dataclass
class Artifacts:
    """``load_artifacts(dir)``: everything ``write_artifacts`` wrote, loaded with the request path's own
    classes (``adapters.learned``), so what the evaluator scores is what a deployment runs."""

    directory: Path
    models: list[str]
    taxonomy: list[Category]
    catalog: list[ModelEntry]
    router: OnnxLearnedRouter
    verifier: OnnxVerifier
    dial: Dial
    dial_meta: dict
    axes: OnnxAxisHeads | None = None

    def point(self, name: str) -> OperatingPoint:
        return self.dial.point(name)


def load_artifacts(directory: str | Path) -> Artifacts:
    d = Path(directory)

    def read(name: str) -> Any:
        return json.loads((d / name).read_text(encoding="utf-8"))

    dial_meta = read("dial.json")
    router = OnnxLearnedRouter(d)
    return Artifacts(
        directory=d, models=list(router.models),
        taxonomy=[Category.model_validate(c) for c in read("taxonomy.json")["categories"]],
        catalog=[ModelEntry.model_validate(e) for e in read("catalog.json")],
        router=router, verifier=OnnxVerifier(d), dial=Dial.model_validate(dial_meta), dial_meta=dial_meta,
        axes=OnnxAxisHeads(d) if (d / "axes.onnx").is_file() else None)
