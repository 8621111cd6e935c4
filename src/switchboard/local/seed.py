"""Taxonomy seeding: from a labelled seed file (prompts per category, embedded here) or from a trained
taxonomy (centroids already computed by ``switchboard train``)."""

from __future__ import annotations

import json
from pathlib import Path

from switchboard.domain.taxonomy import Category, centroid


def load_taxonomy(path: Path, encoder=None) -> list[Category]:  # noqa: ANN001 - any object with embed()
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    raw = data.get("categories", data)
    if isinstance(raw, list):  # trained: a list of categories with centroids
        return [Category.model_validate(c) for c in raw]
    categories = []
    if encoder is None:
        from switchboard.adapters.encoder import get_encoder

        encoder = get_encoder()
    for name, spec in raw.items():
        if "centroid" in spec:
            categories.append(Category.model_validate({"name": name, **spec}))
            continue
        vectors = encoder.embed(spec["prompts"])
        categories.append(Category(name=name, centroid=[float(x) for x in centroid(vectors)],
                                   tiers=spec["tiers"], examples=len(spec["prompts"])))
    return categories
