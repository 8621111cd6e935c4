"""The work of the cascade's task states: call a tier's model, run one judge.

The tier and judge Lambdas are thin adapters over these two functions; the local stack runs the same
handlers, so this code is what runs everywhere.
"""

from __future__ import annotations

import time

from switchboard.domain.models import (
    Candidate,
    CascadeState,
    JudgeTask,
    ModelEntry,
    TierResult,
    Usage,
    Verdict,
)
from switchboard.domain.verdicts import (
    llm_judge_messages,
    parse_verdict,
    self_verify_messages,
    share_positive,
)
from switchboard.ports import ProviderRejected, ProviderSource

SELF_VERIFY_TEMPERATURE = 0.7
VERDICT_MAX_TOKENS = 8


def _entry(catalog: dict[str, ModelEntry], model_id: str) -> ModelEntry:
    entry = catalog.get(model_id)
    if entry is None:
        raise ProviderRejected(f"model '{model_id}' is not in the catalogue")
    return entry


def run_tier(state: CascadeState, catalog: dict[str, ModelEntry], providers: ProviderSource) -> TierResult:
    """Call the model of the state's current tier. Provider errors propagate (the state machine retries
    the transient ones and then falls through to the next tier)."""
    spec = state.plan.tiers[state.tier]
    entry = _entry(catalog, spec.model)
    provider = providers.provider_for(entry)
    started = time.perf_counter()
    completion = provider.complete(state.request.messages, max_tokens=state.request.max_tokens,
                                   temperature=state.request.temperature)
    latency_ms = (time.perf_counter() - started) * 1000
    cost = completion.cost_usd if completion.cost_usd is not None else entry.price.cost(
        completion.input_tokens, completion.output_tokens)
    candidate = Candidate(model=spec.model, text=completion.text,
                          usage=Usage(input_tokens=completion.input_tokens,
                                      output_tokens=completion.output_tokens),
                          cost_usd=cost, latency_ms=latency_ms, finish_reason=completion.finish_reason)
    return TierResult(tier=state.tier, candidate=candidate, judges=spec.judges)


def run_judge(task: JudgeTask, catalog: dict[str, ModelEntry], providers: ProviderSource) -> Verdict:
    """Run one judge on a candidate. Any failure of the judge's model becomes an abstention that says why:
    a judge that cannot judge must not sink an answer that may be good."""
    spec = task.judge
    question = task.request.prompt
    answer = task.candidate.text
    truncated = task.candidate.finish_reason == "length"
    try:
        entry = _entry(catalog, spec.model or task.candidate.model)
        provider = providers.provider_for(entry)
        if spec.kind == "llm_judge":
            completion = provider.complete(llm_judge_messages(question, answer, truncated),
                                           max_tokens=VERDICT_MAX_TOKENS, temperature=0.0)
            cost = entry.price.cost(completion.input_tokens, completion.output_tokens)
            score = parse_verdict(completion.text)
            detail = completion.text.strip()[:200]
        elif spec.kind == "self_verify":
            samples: list[float | None] = []
            cost = 0.0
            texts = []
            for k in range(spec.samples):
                completion = provider.complete(self_verify_messages(question, answer, truncated),
                                               max_tokens=VERDICT_MAX_TOKENS,
                                               temperature=SELF_VERIFY_TEMPERATURE, seed=1000 + k)
                cost += entry.price.cost(completion.input_tokens, completion.output_tokens)
                samples.append(parse_verdict(completion.text))
                texts.append(completion.text.strip()[:40])
            score = share_positive(samples)
            detail = f"{sum(1 for s in samples if s == 1.0)}/{len(samples)} correct; samples={texts}"
        else:
            return Verdict(judge=spec.name, kind=spec.kind, score=None,
                           detail=f"judge kind '{spec.kind}' needs recorded data (offline evaluation only)")
    except Exception as exc:  # noqa: BLE001 - every judge failure is an abstention, recorded in the trace
        return Verdict(judge=spec.name, kind=spec.kind, score=None,
                       detail=f"judge failed: {type(exc).__name__}: {str(exc)[:200]}")
    if score is None:
        detail = f"unparseable verdict, abstained: {detail}"
    return Verdict(judge=spec.name, kind=spec.kind, score=score, cost_usd=cost, detail=detail)
