"""``switchboard compare``: how the shadow policy would have done on the traffic it was planned beside.

Every request a router served while a shadow policy was installed (``publish --shadow``) carries the
shadow's plan in its trace (``Plan.shadow``). Here each shadow plan is *replayed* over the answers the live
request bought - through the request path's own engine (``service.tasks.run_in_process``: ``run_tier``,
the agreement judges, the decide step with the shadow release's verifier), with ``TraceAnswers`` standing
in for the providers. That provider is SIMULATED from the trace: it serves each model's answer exactly as
the live request bought it (text, canonical answer, cost) and refuses a model the live request did not
buy. A replay that needed such a model is *incomplete*: its cost is then estimated (what the replay spent,
plus the planner's list-price estimate of each tier it could not run), and it takes no part in the
agreement or accuracy figures.

The report, over the traces since a time:
- ``agreement``: the shadow answering with the same model, and with the same answer (equivalence as the
  request path reads it), as the live cascade, over complete replays; and the same first tier, over
  every shadow plan;
- ``cost``: the live mean cost per request, and the shadow's (replayed where complete, estimated where not);
- ``accuracy_where_reference_answered``: on requests whose live cascade bought the reference model's answer
  (by default the dearest catalogue model), the share of live and of shadow answers equivalent to it;
- how many shadow plans failed (the shadow policy raised; the live request was unaffected).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from switchboard.domain.answers import same_answer
from switchboard.domain.catalog import ModelEntry
from switchboard.domain.state import Candidate, CascadeState
from switchboard.ports import Completion, CompletionRequest, ProviderUnavailable, Trace, Verifier
from switchboard.service.tasks import run_in_process

SIMULATED = "simulated from the live trace"


class TraceAnswers:
    """``ProviderSource`` over one trace: each model answers what the live request bought from it
    (SIMULATED; see the module docstring). ``missing`` lists the models it had to refuse."""

    def __init__(self, state: CascadeState) -> None:
        self.answers: dict[str, Candidate] = {}
        for attempt in state.attempts:
            if attempt.candidate is not None:
                self.answers.setdefault(attempt.model, attempt.candidate)
        for model, answer in state.answers.items():
            self.answers.setdefault(model, answer)
        self.missing: set[str] = set()

    def provider_for(self, entry: ModelEntry) -> _TraceAnswer:
        return _TraceAnswer(self, entry.model_id)


class _TraceAnswer:
    def __init__(self, source: TraceAnswers, model: str) -> None:
        self.source, self.model = source, model

    def complete(self, request: CompletionRequest) -> Completion:
        bought = self.source.answers.get(self.model)
        if bought is None:
            self.source.missing.add(self.model)
            raise ProviderUnavailable(f"{self.model}: the live request did not buy this answer ({SIMULATED})")
        return Completion(text=bought.text, input_tokens=bought.usage.input_tokens,
                          output_tokens=bought.usage.output_tokens, finish_reason=bought.finish_reason,
                          cost_usd=bought.cost_usd, canonical_answer=bought.canonical, canonical_recorded=True)


@dataclass
class ShadowOutcome:
    trace_id: str
    complete: bool
    cost_usd: float  # replayed where complete; replayed + list-price estimate of the missing tiers where not
    answer_model: str | None
    answer: str | None  # the canonical answer


def replay_shadow(trace: Trace, catalog: Mapping[str, ModelEntry], verifier: Verifier | None,
                  embed: Callable[[str], Any] | None = None) -> ShadowOutcome | None:
    """The trace's shadow plan run over the answers the live request bought (None: no shadow plan)."""
    live = trace.state
    shadow = live.plan.shadow if live is not None else None
    if live is None or shadow is None or shadow.plan is None:
        return None
    plan = shadow.plan.model_copy(update={"answer_bytes_cap": live.plan.answer_bytes_cap})
    answers = TraceAnswers(live)
    final = run_in_process(CascadeState(request_id=f"shadow-{trace.trace_id}", request=live.request, plan=plan),
                           dict(catalog), answers, verifier=verifier, embed=embed)
    # a dial plan decides on its verifier's scores: without the shadow release's verifier the replay is not it
    complete = not answers.missing and (plan.fusion is None or verifier is not None)
    cost = final.spent_usd + sum(t.est_cost_usd or 0.0 for t in plan.tiers if t.model in answers.missing)
    chosen = final.decision.answer_tier if final.decision is not None else None
    candidate = next((a.candidate for a in final.attempts if a.tier == chosen), None) if chosen is not None else None
    return ShadowOutcome(trace_id=trace.trace_id, complete=complete, cost_usd=cost,
                         answer_model=candidate.model if candidate is not None else None,
                         answer=candidate.canonical if candidate is not None else None)


def _live_answer(state: CascadeState) -> tuple[str | None, str | None]:
    decision = state.decision
    if decision is None or decision.answer_tier is None:
        return None, None
    attempt = next((a for a in state.attempts if a.tier == decision.answer_tier), None)
    if attempt is None or attempt.candidate is None:
        return None, None
    return attempt.candidate.model, attempt.candidate.canonical


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def compare(traces: Iterable[Trace], catalog: Mapping[str, ModelEntry],
            verifier_for: Callable[[str], Verifier | None], reference: str | None = None,
            embed: Callable[[str], Any] | None = None, since: str | None = None,
            progress: bool = False) -> dict[str, Any]:
    """The report of the module docstring over ``traces`` created at or after ``since`` (ISO 8601).
    ``verifier_for(release)`` gives the shadow release's verifier."""
    from tqdm import tqdm

    reference = reference or max(catalog.values(), key=lambda e: e.price.cost(1000, 250)).model_id
    chosen = [t for t in traces if t.state is not None and t.state.plan.shadow is not None
              and (since is None or t.created_at >= since)]
    failed = [t for t in chosen if t.state is not None and t.state.plan.shadow is not None
              and t.state.plan.shadow.plan is None]
    same_first, same_model, same_ans, live_cost, shadow_cost = [], [], [], [], []
    live_right, shadow_right, complete_n = [], [], 0
    releases = set()
    for trace in tqdm(chosen, desc="replaying shadow plans", unit="trace", disable=not progress):
        state = trace.state
        assert state is not None and state.plan.shadow is not None
        shadow = state.plan.shadow
        releases.add(shadow.release)
        if shadow.plan is None:
            continue
        outcome = replay_shadow(trace, catalog, verifier_for(shadow.release), embed)
        assert outcome is not None
        live_model, live_answer = _live_answer(state)
        same_first.append(shadow.plan.tiers[0].model == state.plan.tiers[0].model)
        live_cost.append(state.spent_usd)
        shadow_cost.append(outcome.cost_usd)
        if not outcome.complete:
            continue
        complete_n += 1
        same_model.append(outcome.answer_model == live_model)
        same_ans.append(outcome.answer is not None and same_answer(outcome.answer, live_answer))
        bought = TraceAnswers(state).answers.get(reference)
        if bought is not None and bought.canonical is not None:
            live_right.append(live_answer is not None and same_answer(live_answer, bought.canonical))
            shadow_right.append(outcome.answer is not None and same_answer(outcome.answer, bought.canonical))
    planned = len(shadow_cost)
    return {
        "since": since, "traces_with_shadow": len(chosen), "shadow_releases": sorted(releases),
        "shadow_failed": len(failed), "replayed": planned, "complete_replays": complete_n,
        "agreement": {"same_first_tier": _share(same_first), "same_answer_model": _share(same_model),
                      "same_answer": _share(same_ans)},
        "cost_per_1k_usd": {"live": round(1000 * sum(live_cost) / planned, 5) if planned else None,
                            "shadow_estimated": round(1000 * sum(shadow_cost) / planned, 5) if planned else None},
        "accuracy_where_reference_answered": {"reference": reference, "prompts": len(live_right),
                                              "live": _share(live_right), "shadow": _share(shadow_right)},
        "simulated": f"shadow answers are {SIMULATED}: a replay that needed an answer the live request did not "
                     "buy is incomplete (cost estimated at list price, left out of agreement and accuracy)",
    }
