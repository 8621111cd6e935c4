"""Taxonomy routing maths: nearest centroid by cosine similarity. Pure numpy, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel, Field

ROUTING_TEXT_CHARS = 1000


def routing_text(prompt: str, max_chars: int = ROUTING_TEXT_CHARS) -> str:
    """The part of a prompt the router embeds: the whole prompt when short, else its tail.

    The encoder truncates at 256 tokens (~1000 characters) from the start, which for few-shot prompts
    keeps only the shared examples and drops the question being asked. The tail holds the question; it
    starts at a paragraph break when there is one, so it does not begin mid-sentence. Training
    (``switchboard train``) and the router at request time both call this one function, so the centroids
    and the learned router see the same text they were fitted on.
    """
    if len(prompt) <= max_chars:
        return prompt
    tail = prompt[-max_chars:]
    cut = tail.find("\n\n")
    if 0 <= cut < max_chars // 2:
        tail = tail[cut + 2:]
    return tail


class Category(BaseModel):
    """A familiar kind of prompt: its centroid in embedding space and the tiers that suit it.

    ``tiers`` are model ids ordered cheapest-likely-good first; ``accuracy`` and ``cost_usd`` (per model,
    optional) are what training measured for this category.
    """

    name: str
    centroid: list[float]
    tiers: list[str] = Field(min_length=1)
    accuracy: dict[str, float] = Field(default_factory=dict)
    cost_usd: dict[str, float] = Field(default_factory=dict)
    examples: int = 0
    # A low percentile of this category's own training prompts' similarity to its centroid. Broad
    # categories (MMLU-Pro's "other": 10% of its own prompts under 0.2) need a lower bar than the global
    # one to keep their prompts; ``is_familiar`` uses it only to lower the bar, never to raise it.
    min_similarity: float | None = Field(default=None, ge=-1.0, le=1.0)


class Match(BaseModel):
    category: str
    similarity: float


def centroid(vectors: np.ndarray) -> np.ndarray:
    """Mean of unit vectors, renormalised (the direction the category points to)."""
    mean = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


class TaxonomyMismatch(RuntimeError):
    """The taxonomy does not fit the encoder (centroids of another dimension, or of mixed dimensions).

    A deployment problem, not a caller's: the router logs it and plans without the taxonomy.
    """


class Centred(Protocol):
    """Anything named with a centroid: a taxonomy ``Category``, a judge policy's ``JudgeRegion``."""

    @property
    def name(self) -> str: ...

    @property
    def centroid(self) -> list[float]: ...


C = TypeVar("C", bound=Centred)


class CentroidIndex(Generic[C]):
    """Centroids stacked into one matrix so a match is one matrix-vector product."""

    def __init__(self, categories: Sequence[C]) -> None:
        if not categories:
            raise ValueError("a taxonomy needs at least one category")
        self.categories = list(categories)
        dims = {len(c.centroid) for c in categories}
        if len(dims) != 1:
            raise TaxonomyMismatch(f"taxonomy centroids have mixed dimensions {sorted(dims)}")
        matrix = np.asarray([c.centroid for c in categories], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self._matrix = matrix / np.clip(norms, 1e-12, None)

    @property
    def dim(self) -> int:
        return int(self._matrix.shape[1])

    def nearest(self, embedding: np.ndarray) -> Match:
        vector = np.asarray(embedding, dtype=np.float32)
        if vector.shape != (self.dim,):
            raise TaxonomyMismatch(f"taxonomy centroids are {self.dim}-d, the prompt embedding is "
                                   f"{vector.shape[-1] if vector.ndim else 0}-d")
        sims = self._matrix @ vector
        best = int(np.argmax(sims))
        return Match(category=self.categories[best].name, similarity=float(sims[best]))

    def get(self, name: str) -> C:
        for category in self.categories:
            if category.name == name:
                return category
        raise KeyError(name)


def is_familiar(match: Match | None, category: Category | None, default_threshold: float) -> bool:
    """Whether a prompt matched ``category`` closely enough to take the category's tiers (else it is
    ambiguous and goes to the learned router).

    The bar is the global threshold (the encoder's "clearly related" level), lowered to the category's
    trained ``min_similarity`` for broad categories whose own prompts often sit below it. It is never
    raised for tight categories: a prompt worded unlike any training prompt (similarity 0.48 to a
    category of templated prompts that sit at 0.8 among themselves) but far nearer that category than any
    other is still that category's.
    """
    if match is None or category is None:
        return False
    bar = default_threshold
    if category.min_similarity is not None:
        bar = min(bar, category.min_similarity)
    return match.similarity >= bar
