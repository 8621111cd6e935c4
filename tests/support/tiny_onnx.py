"""A training run's model files, as small as they can be and real: an ONNX learned router (embedding ->
sigmoid(bias) per model, the same for every prompt) and an ONNX verifier (features -> sigmoid(bias)),
with the JSON descriptions ``adapters.learned`` reads. Two runs with different biases are different
releases whose routers disagree."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _model(input_name: str, output_name: str, d: int, k: int, bias: Sequence[float], squeeze: bool) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.zeros((d, k), dtype=np.float32), "w"),
             numpy_helper.from_array(np.asarray(bias, dtype=np.float32), "b")]
    nodes = [helper.make_node("MatMul", [input_name, "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["z"]),
             helper.make_node("Sigmoid", ["z"], ["p" if squeeze else output_name])]
    out_shape: list = [None, k]
    if squeeze:
        inits.append(numpy_helper.from_array(np.asarray([-1], dtype=np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", ["p", "shape"], [output_name]))
        out_shape = [None]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [None, d])],
                              [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_shape)],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_run(directory: Path, models: Sequence[str], router_bias: Sequence[float], *, dim: int = 384,
              verifier_bias: float = 0.0, features: int = 3) -> Path:
    """``router.onnx``/``router.json`` and ``verifier.onnx``/``verifier.json`` in ``directory``."""
    from switchboard.adapters.encoder import TAG

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "router.onnx").write_bytes(_model("embedding", "probabilities", dim, len(models), router_bias, False))
    (directory / "router.json").write_text(json.dumps({"models": list(models), "input_name": "embedding",
                                                       "output_name": "probabilities",
                                                       "input": {"encoder": TAG, "dim": dim}}))
    (directory / "verifier.onnx").write_bytes(_model("features", "probability", features, 1, [verifier_bias], True))
    (directory / "verifier.json").write_text(json.dumps({"models": list(models),
                                                         "features": [f"f{i}" for i in range(features)]}))
    return directory
