"""Prompt embeddings for offline work, cached on disk by a hash of the text.

Embedding ~9k benchmark prompts with the packaged MiniLM encoder takes a minute or two; every later
``train`` / ``eval`` run reads them back from the cache in well under a second. The cache is a directory
of ``.npz`` shards (``keys``: sha256 hex of the text, ``vectors``: float32 rows); a run that embeds new
texts appends one shard, written atomically, so concurrent runs never see a half-written file.

The cache lives under ``$SB_EMBED_CACHE`` or ``~/.cache/switchboard/embeddings``, in a sub-directory
named after the encoder (``tag``), so embeddings of different encoders never mix.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from switchboard.adapters.encoder import TAG as ENCODER_TAG
from switchboard.domain.taxonomy import routing_text
from switchboard.envvars import ENV_EMBED_CACHE

DEFAULT_TAG = ENCODER_TAG


class Encoder(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_cache_dir(tag: str = DEFAULT_TAG) -> Path:
    root = os.environ.get(ENV_EMBED_CACHE) or str(Path.home() / ".cache" / "switchboard" / "embeddings")
    return Path(root) / tag


class EmbeddingCache:
    """A read-through cache in front of an encoder (``encoder`` is created lazily, only on a miss)."""

    def __init__(self, directory: str | Path | None = None, encoder: Encoder | None = None,
                 tag: str = DEFAULT_TAG, batch_size: int = 64) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir(tag)
        self._encoder = encoder
        self.batch_size = batch_size
        self._memory: dict[str, np.ndarray] | None = None

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            from switchboard.adapters.encoder import OnnxEncoder

            self._encoder = OnnxEncoder(threads=max(1, min(4, os.cpu_count() or 1)))
        return self._encoder

    def _load(self) -> dict[str, np.ndarray]:
        if self._memory is None:
            self._memory = {}
            if self.directory.exists():
                for shard in sorted(self.directory.glob("*.npz")):
                    try:
                        with np.load(shard, allow_pickle=False) as data:
                            for key, vec in zip(data["keys"], data["vectors"], strict=True):
                                self._memory[str(key)] = vec
                    except (OSError, ValueError, KeyError):  # a corrupt shard is only a cache miss
                        continue
        return self._memory

    def _save(self, keys: list[str], vectors: np.ndarray) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".tmp", dir=self.directory)
        os.close(fd)
        try:
            with open(tmp, "wb") as handle:
                np.savez(handle, keys=np.asarray(keys), vectors=vectors.astype(np.float32))
            name = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
            os.replace(tmp, self.directory / f"{name}.npz")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def embed(self, texts: Sequence[str], progress: bool = True, desc: str = "embedding prompts") -> np.ndarray:
        """Embeddings of ``texts`` (n, d) float32, computing and caching only the missing ones."""
        memory = self._load()
        keys = [text_key(t) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in memory and key not in missing:
                missing[key] = text
        if missing:
            todo_keys = sorted(missing, key=lambda key: len(missing[key]))  # similar lengths pad little
            chunks = range(0, len(todo_keys), self.batch_size * 16)
            if progress:
                from tqdm import tqdm

                chunks = tqdm(chunks, desc=desc, unit="chunk")
            for start in chunks:
                chunk_keys = todo_keys[start:start + self.batch_size * 16]
                vectors = np.asarray(self.encoder.embed([missing[k] for k in chunk_keys]), dtype=np.float32)
                for key, vec in zip(chunk_keys, vectors, strict=True):
                    memory[key] = vec
                self._save(chunk_keys, vectors)
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([memory[k] for k in keys]).astype(np.float32)


def embed_texts(texts: Sequence[str], encoder: Encoder | None = None, cache_dir: str | Path | None = None,
                progress: bool = True, desc: str = "embedding prompts") -> np.ndarray:
    """Embed with the on-disk cache. A test passes a fake ``encoder`` and a temporary ``cache_dir``."""
    tag = DEFAULT_TAG if encoder is None else type(encoder).__name__.lower()
    return EmbeddingCache(cache_dir, encoder=encoder, tag=tag).embed(texts, progress=progress, desc=desc)


def embed_prompts(prompts: Sequence[str], encoder: Encoder | None = None, cache_dir: str | Path | None = None,
                  progress: bool = True) -> np.ndarray:
    """The routing embeddings of ``prompts``: each prompt's ``routing_text`` embedded - what the router
    embeds for a request, so training and the request path place a prompt alike."""
    return embed_texts([routing_text(p) for p in prompts], encoder=encoder, cache_dir=cache_dir, progress=progress)
