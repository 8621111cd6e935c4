"""Decomposing a request: detect, ask the decomposer, plan each part, or answer the request whole.

``Splitter.split`` takes the planned state of a request (its whole plan fitted to the budget: a request no
plan fits was refused with 402 before this) and returns either that state unchanged - the detector saw
one task, which costs nothing but the rules - or, when the detector fires:

1. the decomposer (a catalogue model: the configured one, else the cheapest) is asked for the parts, if its
   call's cost bound and the whole request's first tier fit the budget together - so that whatever the
   reply, the request can still be answered whole within the cap;
2. a reply that is not a decomposition of the request (``domain.decomposition.parse_split``), a failed
   call, or parts that cannot be planned within their shares of the budget leave the request to be
   answered whole, with the decomposer's call recorded and paid for (``state.spent_usd``);
3. otherwise each part is planned like a request of its own (``RoutePlanner.plan``: its own route, dial
   point, judges and bars - the caller's ``quality`` is every part's bar - and, with a budget, its share
   of what is left after the decomposer: ``domain.costs.budget_shares``), and the state's ``mode`` becomes
   "parts": the state machine runs a cascade per part (a Map) and composes them.

Not decomposed: a pinned model, ``response_format`` and tools (their answer must be one JSON document or
one set of calls), and deployments without the decomposer (``SB_DECOMPOSITION=false``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from switchboard.domain.catalog import ModelEntry
from switchboard.domain.costs import budget_shares, decomposer_bound
from switchboard.domain.decomposition import (
    DECOMPOSER_MAX_TOKENS,
    MAX_BLOCKS,
    blocks_of,
    decomposer_format,
    decomposer_grammar,
    decomposer_messages,
    parse_split,
    part_request,
    part_texts,
)
from switchboard.domain.detector import detect
from switchboard.domain.planner import PlanningError
from switchboard.domain.requests import ChatRequest
from switchboard.domain.state import Candidate, CascadeState, DecomposerCall, Decomposition, Usage
from switchboard.ports import CatalogSource, CompletionRequest, ProviderSource
from switchboard.service.errors import PromptTooLarge
from switchboard.service.execution import answer_bytes_cap
from switchboard.service.routing import RoutePlanner

log = logging.getLogger(__name__)


@dataclass
class SplitSources:
    """What decomposition needs: the catalogue, where the router calls the decomposer (None: it cannot,
    and nothing is decomposed), the decomposer's model (None: the cheapest routable one) and the switch."""

    catalog: CatalogSource
    providers: ProviderSource | None = None
    decomposer_model: str | None = None
    enabled: bool = True


def decomposer_entry(request: ChatRequest, catalog: dict[str, ModelEntry], configured: str | None) -> ModelEntry | None:
    """The decomposer: the configured catalogue model, else the routable model whose call on this request
    costs least at most (``domain.costs.decomposer_bound``)."""
    if configured is not None:
        return catalog.get(configured)
    usable = [e for e in catalog.values() if e.routable]
    return min(usable, key=lambda e: (decomposer_bound(request, e), e.model_id)) if usable else None


def decomposer_call(request: ChatRequest, deadline: float | None) -> CompletionRequest:
    """The decomposer's call for ``request``: its outline, the schema (``response_format``) and, for a local
    model, the grammar that constrains the reply to it (``benchmarks/decomposer.py`` measures this call)."""
    return CompletionRequest(decomposer_messages(request), max_tokens=DECOMPOSER_MAX_TOKENS, temperature=0.0,
                             deadline=deadline, response_format=decomposer_format(),
                             grammar=decomposer_grammar(request.prompt))


class Splitter:
    """Decomposes requests that hold several tasks (see the module docstring)."""

    def __init__(self, planner: RoutePlanner, sources: SplitSources) -> None:
        self.planner = planner
        self.sources = sources

    def split(self, state: CascadeState) -> CascadeState:
        request = state.request
        s = self.sources
        if (not s.enabled or s.providers is None or state.plan.route == "pinned" or state.mode != "whole"
                or request.response_format is not None or request.tool_use is not None):
            return state
        detection = detect(request.prompt)
        if not detection.compound:
            return state
        whole = Decomposition(cues=detection.cues())
        catalog = s.catalog.models()
        entry = decomposer_entry(request, catalog, s.decomposer_model)
        if entry is None:
            return state.model_copy(update={"decomposition": whole.model_copy(
                update={"outcome": f"no decomposer model in the catalogue ({s.decomposer_model or 'none routable'})"})})
        if len(blocks_of(request.prompt)) > MAX_BLOCKS:
            return state.model_copy(update={"decomposition": whole.model_copy(
                update={"outcome": f"more than {MAX_BLOCKS} blocks: too long to decompose"})})
        budget = request.max_cost_usd
        if budget is not None and decomposer_bound(request, entry) + state.plan.tiers[0].est_cost_usd > budget:
            return state.model_copy(update={"decomposition": whole.model_copy(update={
                "outcome": "the budget cannot pay for the decomposer and still answer the request whole"})})
        call = self._call(entry, state)
        spent = call.reply.cost_usd if call.reply is not None else 0.0
        answered_whole = state.model_copy(update={"spent_usd": state.spent_usd + spent})
        if call.reply is None:
            return answered_whole.model_copy(update={"decomposition": whole.model_copy(
                update={"decomposer": call, "outcome": call.outcome})})
        split, why = parse_split(call.reply.text, request.prompt)
        call = call.model_copy(update={"outcome": why})
        whole = whole.model_copy(update={"decomposer": call, "outcome": why})
        if split is None:
            return answered_whole.model_copy(update={"decomposition": whole})
        texts = part_texts(request.prompt, split)
        shares: list[float | None] = [None] * len(texts)
        if budget is not None:
            first = state.plan.tiers[0]
            shares = list(budget_shares(max(0.0, budget - state.spent_usd - spent),
                                        [part_request(request, t, None) for t in texts],
                                        first.model, first.judges, catalog))
        parts = []
        try:
            for k, (text, share) in enumerate(zip(texts, shares, strict=True), start=1):
                part = part_request(request, text, share)
                parts.append(CascadeState(request_id=f"{state.request_id}-p{k}", request=part,
                                          plan=self.planner.plan(part), deadline=state.deadline,
                                          traceparent=state.traceparent))
        except PlanningError as exc:
            return answered_whole.model_copy(update={"decomposition": whole.model_copy(
                update={"outcome": f"part {len(parts) + 1} cannot be planned: {exc}"[:300]})})
        compound = answered_whole.model_copy(update={
            "mode": "parts", "decomposition": whole.model_copy(update={"parts": parts})})
        try:
            cap = answer_bytes_cap(compound, [p.plan for p in parts])
        except PromptTooLarge:
            return answered_whole.model_copy(update={"decomposition": whole.model_copy(
                update={"outcome": "its parts' answers could not fit the cascade's state"})})
        parts = [p.model_copy(update={"plan": p.plan.model_copy(update={"answer_bytes_cap": cap})}) for p in parts]
        return compound.model_copy(update={"decomposition": compound.decomposition.model_copy(  # type: ignore[union-attr]
            update={"parts": parts})})

    def _call(self, entry: ModelEntry, state: CascadeState) -> DecomposerCall:
        """Ask the decomposer; a failure is recorded (by its error's type) and never raised."""
        assert self.sources.providers is not None
        started = time.perf_counter()
        try:
            provider = self.sources.providers.provider_for(entry)
            completion = provider.complete(decomposer_call(state.request, state.deadline))
        except Exception as exc:  # noqa: BLE001 - no decomposition, never an error: the request is answered whole
            log.warning("decomposer %s failed: %s", entry.model_id, type(exc).__name__)
            return DecomposerCall(model=entry.model_id, error=type(exc).__name__,
                                  outcome=f"the decomposer failed ({type(exc).__name__})")
        cost = completion.cost_usd if completion.cost_usd is not None else entry.price.cost(
            completion.input_tokens, completion.output_tokens)
        reply = Candidate(model=entry.model_id, text=completion.text[:2000], cost_usd=cost,
                          usage=Usage(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens),
                          latency_ms=round((time.perf_counter() - started) * 1000, 1),
                          finish_reason=completion.finish_reason)
        return DecomposerCall(model=entry.model_id, reply=reply)
