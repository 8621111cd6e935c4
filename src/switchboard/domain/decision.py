"""The decision: verdicts -> confidence -> accept / escalate / stop.

This is the one place where Switchboard decides. The decide Lambda, the local stack and the offline
evaluator (``switchboard eval``) all call these functions, so a policy measured offline is the policy
deployed. Nothing here performs I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from .judging import Calibration
from .state import Attempt, Decision, Verdict

__all__ = ["Calibration", "aggregate_confidence", "best_attempt", "decide"]


def aggregate_confidence(verdicts: Sequence[Verdict], weights: dict[str, float] | None = None,
                         calibration: Calibration | None = None) -> float | None:
    """Weighted mean of the non-abstaining judges' scores, then calibrated; None when all abstained.

    ``weights`` (judge name -> weight) overrides the judges' own weights, e.g. with weights learned
    offline. An abstention (unparseable judge output, judge failure) carries no evidence either way, so it
    is left out rather than counted as "incorrect".
    """
    total = 0.0
    weight_sum = 0.0
    for verdict in verdicts:
        if verdict.score is None:
            continue
        weight = (weights or {}).get(verdict.judge, 1.0)
        total += weight * verdict.score
        weight_sum += weight
    if weight_sum == 0.0:
        return None
    raw = total / weight_sum
    return calibration.apply(raw) if calibration else raw


def best_attempt(attempts: Sequence[Attempt]) -> Attempt | None:
    """The answer to return when no tier was accepted: the most confident successful attempt.

    Ties (including "no judge gave a score") go to the later tier, whose model is the stronger one.
    Confidences are compared only on one scale: when some attempts carry a measured P(correct) and others
    a raw judge score, the two say different things, and the latest successful attempt is returned.
    """
    usable = [a for a in attempts if a.candidate is not None and a.rejected is None]
    if len({a.measured for a in usable}) > 1:
        return max(usable, key=lambda a: a.tier)
    best: Attempt | None = None
    best_key: tuple[float, int] | None = None
    for attempt in usable:
        key = (attempt.confidence if attempt.confidence is not None else -1.0, attempt.tier)
        if best_key is None or key > best_key:
            best, best_key = attempt, key
    return best


# Escalating with less time than this left would only start a call the deadline cuts off.
MIN_ESCALATION_SECONDS = 3.0


def decide(*, tier: int, n_tiers: int, answered: bool, confidence: float | None, threshold: float,
           spent_usd: float, next_tier_cost_usd: float | None, max_cost_usd: float | None,
           attempts: Sequence[Attempt] = (), quorum_met: bool = True,
           time_left_s: float | None = None, measured: bool = True, meta: Calibration | None = None,
           judged: bool = True) -> Decision:
    """Decide what to do after tier ``tier`` of ``n_tiers`` has answered (or failed) and been judged.

    - accept when the tier answered, its confidence reaches ``threshold`` and its judges reached their
      quorum (a judge that failed counts against acceptance);
    - stop when no tier is left, when the next tier's cost bound would take the spend past the request's
      budget, or when less than ``MIN_ESCALATION_SECONDS`` of the request's deadline is left; the answer
      is then the best attempt so far, flagged unverified;
    - escalate otherwise.

    ``attempts`` are all attempts including the current one; they only matter for choosing the best
    answer on a stop. ``measured`` says whether the confidence is a measured P(correct) (a calibrated
    judge set, or a dial's verifier): only then is an accepted answer ``verified``; a tier judged by
    judges of unknown accuracy is accepted on their word (reason ``confident_unmeasured``), unverified.
    ``meta`` (AutoMix's POMDP meta-verifier, deployed by training at this decision) replaces the bar: the
    tier passes where ``meta`` maps the confidence to at least one half. ``judged=False`` on a plan of one tier
    without judges (a pinned model the caller did not ask to verify, a budget that left none): its answer
    is accepted as it is (reason ``unjudged``), never verified.
    """
    passes = confidence is not None and (confidence >= threshold if meta is None else meta.apply(confidence) >= 0.5)
    if answered and confidence is not None and passes and (quorum_met or threshold <= 0):
        # A bar of 0 (a dial's final tier) accepts whatever the judges said: the best answer available,
        # returned with its calibrated confidence, but not "verified" - no judge cleared it.
        if threshold > 0 and measured:
            return Decision(action="accept", reason="confident", confidence=confidence, answer_tier=tier,
                            verified=True)
        if threshold > 0:
            return Decision(action="accept", reason="confident_unmeasured", confidence=confidence,
                            answer_tier=tier)
        return Decision(action="accept", reason="final_tier", confidence=confidence, answer_tier=tier)
    if answered and not judged and n_tiers == 1:
        return Decision(action="accept", reason="unjudged", confidence=None, answer_tier=tier)

    def stop(reason: str) -> Decision:
        best = best_attempt(attempts)
        if best is None:
            return Decision(action="stop", reason="all_tiers_failed", confidence=None, answer_tier=None)
        return Decision(action="stop", reason=reason, confidence=best.confidence, answer_tier=best.tier)

    if tier + 1 >= n_tiers:
        return stop("tiers_exhausted")
    if max_cost_usd is not None and spent_usd + (next_tier_cost_usd or 0.0) > max_cost_usd:
        return stop("budget")
    if time_left_s is not None and time_left_s < MIN_ESCALATION_SECONDS:
        return stop("deadline")
    reason = "not_confident" if answered else "tier_failed"
    return Decision(action="escalate", reason=reason, confidence=confidence, answer_tier=None)
