"""The learned router at request time: an ONNX model (trained by ``switchboard train``) mapping a prompt
embedding to each model's probability of answering correctly (EMAFusion's multi-output predictor).

Loaded from the directory named by ``SB_ROUTER_ARTIFACTS`` (``router.onnx`` + ``router.json``); when
the variable is unset, routing uses the taxonomy and the default tier order only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .router import LearnedRouter

ENV_ROUTER_ARTIFACTS = "SB_ROUTER_ARTIFACTS"


class OnnxLearnedRouter(LearnedRouter):
    def __init__(self, directory: str | Path) -> None:
        import onnxruntime as ort

        directory = Path(directory)
        meta = json.loads((directory / "router.json").read_text(encoding="utf-8"))
        self.models: list[str] = list(meta["models"])
        self.input_name: str = meta.get("input_name", "embedding")
        self.output_name: str | None = meta.get("output_name")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(str(directory / "router.onnx"), sess_options=options,
                                             providers=["CPUExecutionProvider"])

    def predict(self, embedding: np.ndarray) -> Mapping[str, float]:
        batch = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        outputs = self._session.run([self.output_name] if self.output_name else None, {self.input_name: batch})
        probs = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
        return {m: float(p) for m, p in zip(self.models, probs, strict=True)}


def load_learned_router(directory: str | None = None) -> LearnedRouter | None:
    directory = directory or os.environ.get(ENV_ROUTER_ARTIFACTS)
    if not directory:
        return None
    return OnnxLearnedRouter(directory)
