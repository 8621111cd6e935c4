"""Compound prompts: requests of several tasks, built by joining recorded prompts, with their boundaries.

``switchboard eval --compound N`` and the decomposer's measurement on real models
(``benchmarks/decomposer.py``) build their compound requests here, the same way: seeded, 2-3 prompts of the
evaluated set joined by one of a few phrasings people use (one after the other, numbered "Question k:",
a rule "---" between them, "Also:"). Each compound keeps which prompts it joins and the line range of
each inside its text (1-based, inclusive, in ``domain.decomposition``'s numbering): the boundaries a perfect
decomposer would find.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from switchboard.domain.decomposition import blocks_of, lines_of

TEMPLATES = ("plain", "numbered", "rule", "also")


@dataclass(frozen=True)
class Compound:
    """A compound request: its text, the indices of the prompts it joins (in order), each one's line range
    in the text, and the phrasing that joined them."""

    text: str
    members: tuple[int, ...]
    ranges: tuple[tuple[int, int], ...]
    template: str


def join(prompts: Sequence[str], members: Sequence[int], template: str) -> Compound:
    """Join ``prompts[m]`` for ``m`` in ``members`` with ``template``; record each one's line range."""
    pieces: list[str] = []
    ranges: list[tuple[int, int]] = []
    line = 1

    def add(text: str, member: bool) -> None:
        nonlocal line
        count = len(lines_of(text))
        if member:
            ranges.append((line, line + count - 1))
        pieces.append(text)
        line += count

    for k, m in enumerate(members):
        if k > 0 or template == "numbered":
            if template == "numbered":
                add(f"{'' if k == 0 else chr(10)}Question {k + 1}:", False)
            elif template == "rule":
                add("\n---\n", False)
            elif template == "also":
                add("\nAlso:", False)
            else:
                add("", False)
        add(prompts[m], True)
    text = "\n".join(pieces)
    assert all("\n".join(lines_of(text)[a - 1:b]) == prompts[m] for (a, b), m in zip(ranges, members, strict=True))
    return Compound(text=text, members=tuple(int(m) for m in members), ranges=tuple(ranges), template=template)


def joinable(prompts: Sequence[str]) -> np.ndarray:
    """Indices of the prompts a compound may take: those without blank edges or a heading at either end (so
    that a part found at the join's boundaries is the prompt itself) and whose text occurs once (a replay
    matches a part by its text)."""
    counts: dict[str, int] = {}
    for p in prompts:
        counts[p] = counts.get(p, 0) + 1

    def clean(p: str) -> bool:
        blocks = blocks_of(p)
        return bool(blocks) and p == p.strip() and not blocks[0].heading and not blocks[-1].heading and (
            blocks[0].first == 1)

    return np.asarray([i for i, p in enumerate(prompts) if counts[p] == 1 and clean(p)], dtype=int)


def build_compounds(prompts: Sequence[str], n: int, seed: int, sizes: Sequence[int] = (2, 3),
                    allowed: Sequence[int] | np.ndarray | None = None) -> list[Compound]:
    """``n`` compound prompts, seeded: each joins ``sizes`` (drawn uniformly) distinct joinable prompts (of
    ``allowed``, when given) in random order with a random phrasing of ``TEMPLATES``."""
    pool = joinable(prompts)
    if allowed is not None:
        pool = np.intersect1d(pool, np.asarray(allowed, dtype=int))
    if len(pool) < max(sizes):
        raise ValueError(f"too few prompts to join ({len(pool)} usable)")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        size = int(rng.choice(list(sizes)))
        members = rng.choice(pool, size=size, replace=False)
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        out.append(join(prompts, [int(m) for m in members], template))
    return out
