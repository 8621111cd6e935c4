"""A training run's ONNX models at request time: the learned router (a prompt embedding -> each model's
probability of answering correctly, EMAFusion's multi-output predictor) and the learned verifier (the
features of the answers bought so far -> P(candidate correct), the fusion step).

Loaded from a training run's directory (``router.onnx`` + ``router.json``, ``verifier.onnx`` +
``verifier.json``) by ``adapters.releases``: the release ``switchboard publish`` put in force (downloaded
from the artifact bucket), else the directory packaged with the function (``SB_ROUTER_ARTIFACTS``: a Lambda
layer built with the CDK context ``switchboard:routerArtifacts``, or ``switchboard local --artifacts
DIR``); with neither, routing uses the taxonomy and the default tier order only. The offline evaluator
scores Switchboard through these same classes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from switchboard.adapters.encoder import TAG as ENCODER_TAG
from switchboard.domain.answer_features import NO_ANSWER_FEATURES, AnswerFeatures
from switchboard.ports import LearnedRouterUnavailable

REQUIRED_FILES = ("router.onnx", "router.json")
VERIFIER_FILES = ("verifier.onnx", "verifier.json")
# the verifier's inputs, recorded in its ONNX model's metadata (so its sha256 covers them)
FEATURES_KEY = "switchboard.features"
ANSWER_FEATURES_KEY = "switchboard.answer_features"


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file: identifies the verifier a dial was calibrated with."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a corrupt graph
        raise LearnedRouterUnavailable(f"cannot load {path}: {exc}") from exc


def check_router_artifacts(directory: str | Path) -> dict:
    """Validate a learned-router directory and return its ``router.json``; raise with what is wrong.

    Used at cold start and by infra at synth time, so a bad directory fails before it is deployed.
    """
    directory = Path(directory)
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        raise LearnedRouterUnavailable(f"learned router directory {directory} lacks {missing}; point it at "
                                       "the --out directory of `switchboard train`")
    try:
        meta = json.loads((directory / "router.json").read_text(encoding="utf-8"))
        models = list(meta["models"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LearnedRouterUnavailable(f"{directory / 'router.json'} is not a router description: {exc}") from exc
    if not models:
        raise LearnedRouterUnavailable(f"{directory / 'router.json'} names no models")
    encoder = (meta.get("input") or {}).get("encoder")
    if encoder is not None and encoder != ENCODER_TAG:
        raise LearnedRouterUnavailable(f"the learned router in {directory} was trained on '{encoder}' "
                                       f"embeddings; the router embeds with '{ENCODER_TAG}'")
    return meta


class OnnxLearnedRouter:
    """The ``LearnedRouter`` port over ``router.onnx``: one embedding in, P(correct) per model out."""

    def __init__(self, directory: str | Path) -> None:
        directory = Path(directory)
        meta = check_router_artifacts(directory)
        self.models: list[str] = list(meta["models"])
        self.input_name: str = meta.get("input_name", "embedding")
        self.output_name: str | None = meta.get("output_name")
        self.dim: int | None = (meta.get("input") or {}).get("dim")
        self._session = _session(directory / "router.onnx")

    def predict_batch(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, d) embeddings -> (n, k) P(correct), columns in ``models`` order."""
        batch = np.asarray(embeddings, dtype=np.float32).reshape(len(embeddings), -1)
        if self.dim is not None and batch.shape[1] != self.dim:
            raise LearnedRouterUnavailable(f"the learned router expects {self.dim}-d embeddings, got "
                                           f"{batch.shape[1]}-d")
        outputs = self._session.run([self.output_name] if self.output_name else None, {self.input_name: batch})
        return np.asarray(outputs[0], dtype=np.float32).reshape(len(batch), -1).astype(float)

    def predict(self, embedding: np.ndarray) -> Mapping[str, float]:
        probs = self.predict_batch(np.asarray(embedding, dtype=np.float32).reshape(1, -1))[0]
        return {m: float(p) for m, p in zip(self.models, probs, strict=True)}


class OnnxVerifier:
    """The learned verifier (``verifier.onnx`` + ``verifier.json``): feature rows
    (``domain.fusion.verifier_features``, with the answer features ``answer_features`` names appended) ->
    P(candidate correct). ``sha256`` identifies it: the ONNX file's, whose metadata records the feature
    names and the answer features (with their fitted projection), so a verifier whose inputs changed is a
    different verifier. A ``verifier.json`` that describes other inputs than the graph records is refused;
    a graph without that record (trained before answer features existed) reads none."""

    def __init__(self, directory: str | Path) -> None:
        directory = Path(directory)
        missing = [name for name in VERIFIER_FILES if not (directory / name).is_file()]
        if missing:
            raise LearnedRouterUnavailable(f"{directory} lacks {missing}; point it at the --out directory of "
                                           "`switchboard train`")
        try:
            meta = json.loads((directory / "verifier.json").read_text(encoding="utf-8"))
            self.models: list[str] = list(meta["models"])
            self.features: list[str] = list(meta["features"])
            described = AnswerFeatures.model_validate(meta.get("answer_features") or {})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LearnedRouterUnavailable(f"{directory / 'verifier.json'} is not a verifier description: "
                                           f"{exc}") from exc
        self.input_name: str = meta.get("input_name", "features")
        self.output_name: str = meta.get("output_name", "probability")
        self.sha256 = file_sha256(directory / "verifier.onnx")
        self._session = _session(directory / "verifier.onnx")
        self.answer_features: AnswerFeatures = self._recorded_inputs(directory, described)

    def _recorded_inputs(self, directory: Path, described: AnswerFeatures) -> AnswerFeatures:
        """The answer features the graph records, checked against ``verifier.json``'s description."""
        recorded = self._session.get_modelmeta().custom_metadata_map
        width = self._session.get_inputs()[0].shape[-1]
        if isinstance(width, int) and width != len(self.features):
            raise LearnedRouterUnavailable(f"{directory / 'verifier.json'} lists {len(self.features)} features; "
                                           f"verifier.onnx reads {width}")
        if FEATURES_KEY not in recorded:
            if described.enabled:
                raise LearnedRouterUnavailable(f"{directory / 'verifier.json'} describes answer features that "
                                               "verifier.onnx does not record")
            return NO_ANSWER_FEATURES
        try:
            names = json.loads(recorded[FEATURES_KEY])
            features = AnswerFeatures.model_validate_json(recorded.get(ANSWER_FEATURES_KEY) or "{}")
        except ValueError as exc:
            raise LearnedRouterUnavailable(f"verifier.onnx in {directory} has an unreadable input record: {exc}") from exc
        if names != self.features or features != described:
            raise LearnedRouterUnavailable(f"{directory / 'verifier.json'} describes other inputs than verifier.onnx "
                                           "was trained on: the files come from different training runs")
        return features

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n, F) verifier features -> (n,) P(correct)."""
        if len(X) == 0:
            return np.zeros(0)
        out = self._session.run([self.output_name], {self.input_name: np.asarray(X, dtype=np.float32)})[0]
        return np.asarray(out).reshape(-1).astype(float)


class OnnxAxisHeads:
    """The fast classifier of the four-axis taxonomy (``axes.onnx``, ``domain.axes``): one embedding in, a
    softmax per axis out (named after the axes, in ``Dial.axes.classes`` order)."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / "axes.onnx"
        self._session = _session(self.path)
        self.input_name = self._session.get_inputs()[0].name
        self.axes = [o.name for o in self._session.get_outputs()]

    def predict_batch(self, embeddings: np.ndarray) -> dict[str, np.ndarray]:
        batch = np.asarray(embeddings, dtype=np.float32).reshape(len(embeddings), -1)
        outputs = self._session.run(self.axes, {self.input_name: batch})
        return {axis: np.asarray(out, dtype=float) for axis, out in zip(self.axes, outputs, strict=True)}

    def predict(self, embedding: np.ndarray) -> dict[str, np.ndarray]:
        return {axis: p[0] for axis, p in self.predict_batch(np.asarray(embedding).reshape(1, -1)).items()}
