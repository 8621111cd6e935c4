"""The learned router at request time: an ONNX model (trained by ``switchboard train``) mapping a prompt
embedding to each model's probability of answering correctly (EMAFusion's multi-output predictor).

Loaded from the directory named by ``SB_ROUTER_ARTIFACTS`` (``router.onnx`` + ``router.json``); when
the variable is unset, routing uses the taxonomy and the default tier order only. In AWS the directory
is a Lambda layer built from a training run (CDK context ``switchboard:routerArtifacts``); locally it is
``switchboard local --artifacts DIR``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from switchboard.adapters.encoder import TAG as ENCODER_TAG
from switchboard.envvars import ENV_ROUTER_ARTIFACTS
from switchboard.ports import LearnedRouterUnavailable

REQUIRED_FILES = ("router.onnx", "router.json")


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
        import onnxruntime as ort

        directory = Path(directory)
        meta = check_router_artifacts(directory)
        self.models: list[str] = list(meta["models"])
        self.input_name: str = meta.get("input_name", "embedding")
        self.output_name: str | None = meta.get("output_name")
        self.dim: int | None = (meta.get("input") or {}).get("dim")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(directory / "router.onnx"), sess_options=options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a corrupt graph
            raise LearnedRouterUnavailable(f"cannot load {directory / 'router.onnx'}: {exc}") from exc

    def predict(self, embedding: np.ndarray) -> Mapping[str, float]:
        batch = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        if self.dim is not None and batch.shape[1] != self.dim:
            raise LearnedRouterUnavailable(f"the learned router expects {self.dim}-d embeddings, got "
                                           f"{batch.shape[1]}-d")
        outputs = self._session.run([self.output_name] if self.output_name else None, {self.input_name: batch})
        probs = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
        return {m: float(p) for m, p in zip(self.models, probs, strict=True)}


def load_learned_router(directory: str | None = None) -> OnnxLearnedRouter | None:
    directory = directory or os.environ.get(ENV_ROUTER_ARTIFACTS)
    if not directory:
        return None
    return OnnxLearnedRouter(directory)
