"""State transitions of the cascade: fold one tier's outcome into the state and apply the policy."""

from __future__ import annotations

from .models import Attempt, CascadeState, TierResult, Verdict
from .policy import aggregate_confidence, decide


def _error_text(current: dict) -> str:
    """Step Functions' Catch stores ``{"Error": ..., "Cause": ...}``; keep both, bounded."""
    error = str(current.get("Error", "Error"))
    cause = str(current.get("Cause", ""))
    return f"{error}: {cause}"[:500]


def attempt_from_current(state: CascadeState) -> Attempt:
    """Turn the tier task's raw output (or its caught error) and the judges' verdicts into an Attempt."""
    tier_spec = state.plan.tiers[state.tier]
    current = state.current or {"Error": "Switchboard.MissingTierResult", "Cause": "no tier output"}
    if "candidate" not in current:
        return Attempt(tier=state.tier, model=tier_spec.model, error=_error_text(current))
    result = TierResult.model_validate(current)
    verdicts = [Verdict.model_validate(v) for v in current.get("verdicts") or []]
    weights = {j.name: j.weight for j in tier_spec.judges}
    confidence = aggregate_confidence(verdicts, weights=weights)
    return Attempt(tier=state.tier, model=tier_spec.model, candidate=result.candidate, verdicts=verdicts,
                   confidence=confidence)


def step(state: CascadeState) -> CascadeState:
    """Record the current tier's attempt, decide, and move the cursor when escalating.

    Returns a new state; ``current`` is cleared so the next tier starts clean.
    """
    attempt = attempt_from_current(state)
    attempts = [*state.attempts, attempt]
    spent = state.spent_usd + attempt.cost_usd
    next_index = state.tier + 1
    next_cost = state.plan.tiers[next_index].est_cost_usd if next_index < len(state.plan.tiers) else None
    threshold = state.plan.tiers[state.tier].threshold
    if state.request.quality is not None:
        threshold = state.request.quality
    decision = decide(tier=state.tier, n_tiers=len(state.plan.tiers), answered=attempt.candidate is not None,
                      confidence=attempt.confidence, threshold=threshold, spent_usd=spent,
                      next_tier_cost_usd=next_cost,
                      max_cost_usd=state.request.max_cost_usd if state.request.max_cost_usd is not None
                      else state.plan.max_cost_usd,
                      attempts=attempts)
    return state.model_copy(update={
        "attempts": attempts,
        "spent_usd": spent,
        "decision": decision,
        "tier": next_index if decision.action == "escalate" else state.tier,
        "current": None,
    })
