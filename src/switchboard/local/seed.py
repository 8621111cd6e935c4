"""Taxonomy seeding: from a labelled seed file (prompts per category, embedded here) or from a trained
taxonomy (centroids already computed by ``switchboard train``)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from switchboard.domain.taxonomy import Category, centroid
from switchboard.envvars import ENV_SEED_CACHE


def load_taxonomy(path: Path, encoder=None, cache_dir: Path | None = None) -> list[Category]:  # noqa: ANN001
    """The categories of a taxonomy file. A seed file's prompts are embedded with ``encoder`` (any object
    with ``embed``; default: the package's encoder, whose centroids are cached under ``cache_dir`` - by
    default ~/.cache/switchboard/seeds - keyed by the file's bytes and the encoder's files, so a local stack
    starts without loading the encoder to embed the same prompts again)."""
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text)
    raw = data.get("categories", data)
    if isinstance(raw, list):  # trained: a list of categories with centroids
        return [Category.model_validate(c) for c in raw]
    cache: Path | None = None
    if encoder is None:
        cache = _cache_file(text, cache_dir)
        if cache is not None and cache.is_file():
            try:
                return [Category.model_validate(c) for c in json.loads(cache.read_text(encoding="utf-8"))]
            except (ValueError, TypeError):
                pass  # a damaged cache entry is recomputed
        from switchboard.adapters.encoder import get_encoder

        encoder = get_encoder()
    categories = _embed_seed(raw, encoder)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps([c.model_dump(mode="json") for c in categories]), encoding="utf-8")
            partial.replace(cache)  # atomic: a reader sees the whole file or none
        except OSError:
            pass  # no cache: the next start embeds again
    return categories


def _cache_file(text: str, cache_dir: Path | None) -> Path | None:
    from switchboard.adapters.encoder import EncoderUnavailable, default_model_path, default_tokenizer_path

    try:
        parts = [text]
        for file in (default_model_path(), default_tokenizer_path()):
            stat = file.stat()
            parts.append(f"{file.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    except (EncoderUnavailable, OSError):
        return None
    digest = hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:32]
    root = cache_dir or Path(os.environ.get(ENV_SEED_CACHE, Path.home() / ".cache" / "switchboard" / "seeds"))
    return Path(root) / f"{digest}.json"


def _embed_seed(raw: dict, encoder) -> list[Category]:  # noqa: ANN001 - any object with embed()
    categories = []
    for name, spec in raw.items():
        if "centroid" in spec:
            categories.append(Category.model_validate({"name": name, **spec}))
            continue
        vectors = encoder.embed(spec["prompts"])
        categories.append(Category(name=name, centroid=[float(x) for x in centroid(vectors)],
                                   tiers=spec["tiers"], examples=len(spec["prompts"])))
    return categories
