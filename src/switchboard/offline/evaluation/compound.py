"""``switchboard eval --compound N``: compound requests answered whole against decomposed, on recorded data.

N compound requests are built from the evaluated prompts (``offline.compound_prompts``: 2-3 of them joined,
seeded). Each is replayed two ways at every point of the trained dial, with the deployed artifacts
(``evaluation.deployed``), so both sides run the request path's engine:

- **whole**: the compound is one prompt. Its embedding is the encoder's of its text; a model's recorded
  outcome on it is right only when it is right on every part, its cost is the sum of its parts' costs,
  and two models agree on it when they agree on every part (the agreement judges' signal).
- **decomposed**: the detector (``domain.detector``, the request path's rules) reads the compound's text.
  When it does not fire the request runs whole: a detector miss counts against decomposition. When it
  fires, the decomposer is called (the cheapest catalogue model, as ``service.decomposing`` picks it) and
  paid for, its call priced by token counts (the encoder's WordPiece tokenizer over the decomposer's real
  messages and the reply that marks the join's boundaries). Then each part is one of the evaluated
  prompts, answered by its own cascade: right when every part is right, costing the parts plus the
  decomposer (the composer is deterministic and free).

The decomposer cannot be replayed from recorded data: here it is the join's own boundaries, corrupted at
the error rate measured on the real local models (``benchmarks/decomposer.py``). A corrupted
decomposition is, in the measured proportion, either no split (the request then runs whole, after paying
for the decomposer) or a wrong split, counted as a wrong answer costing the whole request plus the
decomposer (a pessimistic stand-in: a wrong split cannot be replayed either). The same comparison is
also reported over a sweep of error rates, to show where decomposition starts to pay.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from switchboard.domain.catalog import ModelEntry
from switchboard.domain.decomposition import decomposer_format, decomposer_messages, outline, split_reply
from switchboard.domain.detector import detect
from switchboard.domain.requests import ChatRequest, Message
from switchboard.offline.artifacts import Artifacts
from switchboard.offline.compound_prompts import Compound, build_compounds
from switchboard.offline.evaluation.deployed import deployed_outcomes
from switchboard.offline.outcomes import Labels, RecordedOutcomes
from switchboard.ports import Completion, CompletionRequest, ProviderRejected
from switchboard.service.decomposing import decomposer_entry

ERROR_SWEEP = (0.0, 0.1, 0.25, 0.5)
PER_MESSAGE_TOKENS = 4  # a chat template's framing of one message, as providers bill it (about)
OK, NO_SPLIT, WRONG = 0, 1, 2


@dataclass(frozen=True)
class SimulatedDecomposer:
    """The decomposer as the replay simulates it: the share of compounds it gets wrong (``error``), the
    share of those it returns unsplit (``no_split``; the rest are wrong splits) and where the rates come
    from."""

    error: float
    no_split: float
    source: str

    @classmethod
    def measured(cls, path: str | Path) -> SimulatedDecomposer:
        """The best (lowest error) model of a ``benchmarks/decomposer.py`` measurement."""
        data = json.loads(Path(path).read_text())
        name, best = min(data.items(), key=lambda kv: kv[1]["decomposer"]["error_rate"])
        err = float(best["decomposer"]["error_rate"])
        no_split = float(best["decomposer"]["no_split"]) / err if err > 0 else 1.0
        return cls(error=err, no_split=min(1.0, no_split),
                   source=f"{name} on {best['compounds']} compounds ({best.get('command', path)})")


def token_counter() -> Callable[[str], int]:
    """Token counts by the packaged encoder's tokenizer (WordPiece, no truncation): a stand-in for the
    decomposer model's own tokenizer, which the replay does not have."""
    from tokenizers import Tokenizer

    from switchboard.adapters.encoder import default_tokenizer_path

    tokenizer = Tokenizer.from_file(str(default_tokenizer_path()))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def decomposer_cost(compound: Compound, entry: ModelEntry, count: Callable[[str], int]) -> float:
    """The decomposer's call on ``compound``: its real messages in, the reply marking the parts out."""
    request = ChatRequest(messages=[Message(role="user", content=compound.text)])
    tokens_in = sum(count(m.content) + PER_MESSAGE_TOKENS for m in decomposer_messages(request))
    return entry.price.cost(tokens_in, count(split_reply(compound.text, list(compound.ranges))))


def decomposer_of(compound: Compound, catalog: Sequence[ModelEntry]) -> ModelEntry:
    """The decomposer the request path picks for ``compound`` when none is configured
    (``service.decomposing.decomposer_entry``: the routable model whose call costs least at most)."""
    request = ChatRequest(messages=[Message(role="user", content=compound.text)])
    entry = decomposer_entry(request, {e.model_id: e for e in catalog}, None)
    if entry is None:
        raise ValueError("no routable model in the catalogue to decompose with")
    return entry


class SimulatedDecomposerProviders:
    """A ``ProviderSource`` for ``eval --compound --via-stack``: every model serves its recorded answers
    (``RecordedProviders``), and a decomposer call on one of ``compounds`` is answered with the reply that
    marks the join's own boundaries, at ``decomposer_cost`` - the simulated decomposer without errors."""

    def __init__(self, test: RecordedOutcomes, compounds: Sequence[Compound], count: Callable[[str], int]) -> None:
        from switchboard.adapters.providers.recorded import RecordedProviders

        self._recorded = RecordedProviders(test)
        self._count = count
        self._by_outline = {outline(c.text): c for c in compounds}

    def provider_for(self, entry: ModelEntry) -> _DecomposingReplay:
        return _DecomposingReplay(self._recorded.provider_for(entry), entry, self)

    def decomposer_reply(self, request: CompletionRequest, entry: ModelEntry) -> Completion | None:
        if request.response_format != decomposer_format() or not request.messages:
            return None
        compound = self._by_outline.get(request.messages[-1].content)
        if compound is None:
            raise ProviderRejected("replay: no compound of this evaluation has this outline")
        reply = split_reply(compound.text, list(compound.ranges))
        tokens_in = sum(self._count(m.content) + PER_MESSAGE_TOKENS for m in request.messages)
        return Completion(text=reply, input_tokens=tokens_in, output_tokens=self._count(reply), finish_reason="stop",
                          latency_ms=0.0, cost_usd=decomposer_cost(compound, entry, self._count))


@dataclass
class _DecomposingReplay:
    recorded: Any
    entry: ModelEntry
    source: SimulatedDecomposerProviders

    def complete(self, request: CompletionRequest) -> Completion:
        return self.source.decomposer_reply(request, self.entry) or self.recorded.complete(request)


def compound_outcomes(test: RecordedOutcomes, compounds: Sequence[Compound]) -> RecordedOutcomes:
    """The compounds as recorded prompts: each model's outcome on every part at once."""
    n, k = len(compounds), test.k
    answers = np.empty((n, k), dtype=object)
    answer_ids = np.full((n, k), -1, dtype=np.int32)
    responses = np.empty((n, k), dtype=object)
    correct = np.zeros((n, k), dtype=float)
    for i, c in enumerate(compounds):
        rows = list(c.members)
        keys: dict[tuple, int] = {}
        for j in range(k):
            parts = tuple(int(test.answer_ids[r, j]) for r in rows)
            if min(parts) >= 0:
                answer_ids[i, j] = keys.setdefault(parts, len(keys))
                answers[i, j] = " | ".join(str(test.answers[r, j]) for r in rows)
            responses[i, j] = "\n\n".join(str(test.responses[r, j] or "") for r in rows)
            graded = test.labels.correct[rows, j]
            correct[i, j] = 0.0 if np.any(graded == 0) else (np.nan if np.any(np.isnan(graded)) else 1.0)
    members = [list(c.members) for c in compounds]

    def total(a: np.ndarray) -> np.ndarray:
        return np.stack([a[m].sum(axis=0) for m in members]) if members else np.zeros((0, k))

    return RecordedOutcomes(
        name=f"{test.name}-compound", prompt_ids=np.asarray([f"compound-{i}" for i in range(n)], dtype=object),
        prompts=[c.text for c in compounds], categories=np.asarray(["compound"] * n, dtype=object),
        models=list(test.models), responses=responses, answers=answers, answer_ids=answer_ids,
        cost=total(test.cost), input_tokens=total(test.input_tokens), output_tokens=total(test.output_tokens),
        labels=Labels(correct=correct, reference=np.asarray([None] * n, dtype=object)),
        answers_recorded=test.answers_recorded,
        latency_s=None if test.latency_s is None else total(test.latency_s))


def compounds_for(test: RecordedOutcomes, n: int, seed: int) -> list[Compound]:
    """``n`` compounds of the evaluated prompts every model's answer was graded on."""
    graded = ~np.isnan(test.labels.correct).any(axis=1)
    return build_compounds(test.prompts, n, seed, allowed=np.flatnonzero(graded))


def fates(n: int, decomposer: SimulatedDecomposer, seed: int) -> np.ndarray:
    """Per compound, what the simulated decomposer does: OK, NO_SPLIT or WRONG (seeded)."""
    rng = np.random.default_rng(seed)
    failed = rng.random(n) < decomposer.error
    unsplit = rng.random(n) < decomposer.no_split
    return np.where(~failed, OK, np.where(unsplit, NO_SPLIT, WRONG))


def _figures(right: np.ndarray, cost: np.ndarray) -> dict:
    return {"accuracy": round(float(right.mean()), 4), "cost_per_1k_usd": round(float(cost.mean() * 1000), 5)}


def compound_replay(art: Artifacts, test: RecordedOutcomes, e_test: np.ndarray, compounds: Sequence[Compound],
                    e_compound: np.ndarray, decomposer: SimulatedDecomposer, seed: int,
                    count: Callable[[str], int] | None = None, a_test: np.ndarray | None = None,
                    a_compound: np.ndarray | None = None) -> dict:
    """results.json's ``compound``: whole against decomposed at every dial point (see the module docstring).
    ``a_test``/``a_compound``: the embeddings of the evaluated prompts' answers and of the compounds' joined
    answers (``answer_signals.embed_answers``), needed when the deployed verifier reads them."""
    count = count or token_counter()
    whole_data = compound_outcomes(test, compounds)
    whole = deployed_outcomes(art, whole_data, e_compound, a_compound)
    single = deployed_outcomes(art, test, e_test, a_test)
    n = len(compounds)
    rows = np.arange(n)
    entries = [decomposer_of(c, art.catalog) for c in compounds]
    spent_decomposing = np.asarray([decomposer_cost(c, e, count) for c, e in zip(compounds, entries, strict=True)])
    detected = np.asarray([detect(c.text).compound for c in compounds])
    false_alarms = int(sum(detect(p).compound for p in test.prompts))
    correct = test.labels.correct

    def decomposed(point: str, fate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, s = whole[point], single[point]
        w_right = whole_data.labels.correct[rows, w.rep]
        p_right = np.asarray([all(correct[m, s.rep[m]] == 1 for m in c.members) for c in compounds], dtype=float)
        p_cost = np.asarray([sum(float(s.cost[m]) for m in c.members) for c in compounds])
        right = np.where(fate == OK, p_right, np.where(fate == NO_SPLIT, w_right, 0.0))
        cost = np.where(fate == OK, p_cost, w.cost) + spent_decomposing
        return np.where(detected, right, w_right), np.where(detected, cost, w.cost)

    measured = fates(n, decomposer, seed)
    points = []
    for point in art.dial.points:
        w = whole[point.name]
        d = _figures(*decomposed(point.name, measured))
        wh = _figures(whole_data.labels.correct[rows, w.rep], w.cost)
        points.append({"point": point.name,
                       "profiles": sorted(p for p, name in art.dial.profiles.items() if name == point.name),
                       "whole": wh, "decomposed": d,
                       "decomposed_by_error": {f"{e:g}": _figures(*decomposed(point.name, fates(
                           n, SimulatedDecomposer(e, decomposer.no_split, "sweep"), seed))) for e in ERROR_SWEEP},
                       "decomposition_wins": d["accuracy"] > wh["accuracy"]
                       and d["cost_per_1k_usd"] <= wh["cost_per_1k_usd"]})
    headline = next((p for p in points if "balanced" in p["profiles"]), points[0])
    return {
        "prompts": n,
        "parts": {str(size): int(sum(len(c.members) == size for c in compounds)) for size in (2, 3)},
        "point": headline["point"],
        "whole": headline["whole"],
        "decomposed": headline["decomposed"],
        "detector": {"recall": round(float(detected.mean()), 4),
                     "precision": round(float(detected.sum() / max(1, detected.sum() + false_alarms)), 4),
                     "false_positives_on_single_prompts": false_alarms, "single_prompts": test.n},
        "decomposer": {"models": dict(Counter(e.model_id for e in entries)), "simulated": True, "error": decomposer.error,
                       "no_split_share_of_errors": round(decomposer.no_split, 4), "measured_on": decomposer.source,
                       "cost_per_1k_usd": round(float(spent_decomposing.mean() * 1000), 5),
                       "outcomes": {"ok": int((measured == OK).sum()), "no_split": int((measured == NO_SPLIT).sum()),
                                    "wrong_split": int((measured == WRONG).sum())}},
        "points": points,
        "bar": {"met": bool(headline["decomposition_wins"]),
                "rule": "decomposed more accurate than whole at no more cost, at the balanced profile's point, "
                        "with the measured decomposer error"},
    }
