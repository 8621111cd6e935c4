"""The cascade engine: the one loop of tier -> judges -> decide, and the step that ends each turn of it.

A turn runs the current tier's model and its judges (``TierOutcome``), then ``step`` folds the outcome
into the state: it files every answer bought at the tier (the tier model's, and those of agreement judges
that solved the prompt) under ``state.answers``, so no answer is bought twice; scores the tier - with a
dial plan (``plan.fusion``), by fusing every answer bought so far with the learned verifier (EMAFusion),
else from the judges' verdicts; checks the answer against the request's format; and asks
``decision.decide``, moving the cursor when it escalates.

Every runtime runs this one engine and differs only in how a tier's outcome is produced:
- the Step Functions state machine (deployed and local) runs the loop in ASL - the tier task, the judges'
  Map, then the decide task, which calls ``step`` - and branches on the decision it returns;
- ``run`` is the same loop in one process, given an ``execute(state) -> TierOutcome``: the in-process
  orchestrator (``service.tasks.run_in_process``: real task functions), the offline replay of trained
  dials and baselines (``offline.recorded_cascades``: answers and agreement judges read from recorded outcomes) and
  the judge-policy replay (``offline.judge_replay``: collected answers and verdicts).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, Field

from .answer_features import Embed, answer_block, request_signals
from .answers import group_answers, same_answer
from .decision import aggregate_confidence, decide
from .formats import check
from .fusion import Scorer, fuse_one
from .state import Attempt, Candidate, CascadeState, Plan, TierResult, Usage, Verdict
from .verdicts import share_positive

DEFAULT_TEXT_BAR = 0.85  # free-text answers agree at this cosine similarity unless training fitted a bar


def _error_text(current: dict) -> str:
    """Step Functions' Catch stores ``{"Error": ..., "Cause": ...}``; keep both, bounded."""
    error = str(current.get("Error", "Error"))
    cause = str(current.get("Cause", ""))
    return f"{error}: {cause}"[:500]


def similarity_test(embed: Embed | None, bar: float) -> Callable[[str, str], bool] | None:
    """Free-text equivalence: cosine similarity of the two texts' embeddings reaches ``bar``."""
    if embed is None:
        return None

    def similar(a: str, b: str) -> bool:
        return float(np.dot(embed(a), embed(b))) >= bar

    return similar


class TierOutcome(BaseModel):
    """What one tier produced, before the decision: its model's answer and its judges' verdicts, or why
    the tier failed (the error its task raised, after the retries)."""

    candidate: Candidate | None = None
    verdicts: list[Verdict] = Field(default_factory=list)
    error: str | None = None

    @classmethod
    def from_current(cls, current: dict | None) -> TierOutcome:
        """The outcome the state machine left in ``state.current``: the tier task's ``TierResult`` with the
        judges' Map output under ``verdicts``, or the error object its Catch put there."""
        current = current or {"Error": "Switchboard.MissingTierResult", "Cause": "no tier output"}
        if "candidate" not in current:
            return cls(error=_error_text(current))
        result = TierResult.model_validate(current)
        return cls(candidate=result.candidate,
                   verdicts=[Verdict.model_validate(raw) for raw in current.get("verdicts") or []])


def fold_samples(verdicts: list[Verdict]) -> list[Verdict]:
    """The verdicts of a tier with each fanned-out judge's samples (a self-verification's k tasks, run side by
    side: ``judging.fan_out``) folded back into that judge's one verdict: AutoMix's score, the share of
    CORRECT among the samples that stated a verdict; its cost and tokens those of every sample; failed only
    when every sample failed (a failed sample lowers the count, not the judge)."""
    groups: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        if verdict.sample is not None:
            groups.setdefault(verdict.judge, []).append(verdict)
    if not groups:
        return verdicts
    out: list[Verdict] = []
    for verdict in verdicts:
        if verdict.sample is None:
            out.append(verdict)
            continue
        samples = groups.pop(verdict.judge, None)
        if samples is None:
            continue  # folded with the first sample of its judge
        stated = [v.score for v in samples if v.score is not None and not v.failed]
        usage = Usage(input_tokens=sum(v.usage.input_tokens for v in samples),
                      output_tokens=sum(v.usage.output_tokens for v in samples))
        positive = sum(1 for s in stated if s >= 0.5)
        out.append(Verdict(judge=verdict.judge, kind=verdict.kind, usage=usage, score=share_positive(stated),
                           cost_usd=sum(v.cost_usd for v in samples), failed=all(v.failed for v in samples),
                           latency_ms=max(v.latency_ms for v in samples),
                           detail=f"{positive}/{len(stated)} stated CORRECT of {len(samples)} samples run side by side"))
    return out


def attempt_from(state: CascadeState, outcome: TierOutcome) -> tuple[Attempt, dict[str, Candidate]]:
    """The current tier's attempt (its candidate or its error, and the judges' verdicts) and the answers
    bought at this tier, keyed by model (reused answers are not bought again)."""
    tier_spec = state.plan.tiers[state.tier]
    if outcome.candidate is None:
        return Attempt(tier=state.tier, model=tier_spec.model, error=outcome.error or "the tier gave no answer"), {}
    candidate = outcome.candidate
    bought: dict[str, Candidate] = {}
    if not candidate.reused:
        bought[candidate.model] = candidate
    verdicts = []
    for verdict in fold_samples(outcome.verdicts):
        if verdict.answer is not None:
            if not verdict.answer.reused and verdict.answer.model not in state.answers:
                bought.setdefault(verdict.answer.model, verdict.answer)
            verdict = verdict.model_copy(update={"answer": None})
        verdicts.append(verdict)
    attempt = Attempt(tier=state.tier, model=tier_spec.model, candidate=candidate, verdicts=verdicts,
                      answer_model=candidate.model, answer_canonical=candidate.canonical)
    return attempt, bought


def _agreement(verdict: Verdict, candidate_canonical: str | None, similar: Callable[[str, str], bool] | None) -> Verdict:
    """An agreement judge's score: 1 when its answer says what the candidate says, 0 when not; it
    abstains when either answer could not be read. A verdict that carries no answer (a failed judge, or
    one whose answer could not be read) keeps its own score."""
    if verdict.kind != "agreement" or verdict.answer_canonical is None:
        return verdict
    if candidate_canonical is None or verdict.answer_canonical is None:
        return verdict.model_copy(update={"score": None})
    agrees = same_answer(candidate_canonical, verdict.answer_canonical, similar)
    return verdict.model_copy(update={"score": 1.0 if agrees else 0.0})


def fuse_attempt(state: CascadeState, plan: Plan, attempt: Attempt, answers: dict[str, Candidate],
                 verifier: Scorer | None, embed: Embed | None) -> Attempt:
    """Score a dial plan's tier: fuse every answer bought so far (or, with ``own_last`` at the final
    tier, the tier's own answer) with the learned verifier; the agreement judges compare their answers
    with the fused one. Without the plan's verifier the tier gets no verifier verdict (and so no
    confidence from it): an unverifiable plan is never accepted as verified. A verifier that reads the
    answers' own features (``domain.answer_features``) gets them computed here, from the answers' texts
    (the encoder ``embed``) and token log-probabilities; when they cannot be computed its verdict abstains."""
    fusion = plan.fusion
    assert fusion is not None
    similar = similarity_test(embed, fusion.text_similarity_bar)
    final = state.tier == len(plan.tiers) - 1
    called_models = {attempt.model} if fusion.own_answer or (fusion.own_last and final) else set(answers)
    keys = [answers[m].canonical if m in answers else None for m in fusion.models]
    called = [m in called_models and m in answers for m in fusion.models]
    ids = group_answers([k if c else None for k, c in zip(keys, called, strict=True)], similar)
    verdicts = list(attempt.verdicts)
    answer_model, answer_canonical = attempt.answer_model, attempt.answer_canonical
    if verifier is not None and any(called):
        resp_len = [float(len(answers[m].text)) if m in answers else 0.0 for m in fusion.models]
        try:
            block = _answer_block(verifier, state, fusion.models, called, answers, embed)
        except ValueError as exc:
            verdicts.insert(0, Verdict(judge="verifier", kind="verifier", score=None, failed=True,
                                       detail=f"learned verifier not run: {exc}"))
        else:
            fused = fuse_one(ids, called, fusion.router_p, resp_len, verifier.predict, block)
            answer_model = fusion.models[fused.rep]
            answer_canonical = keys[fused.rep] if fused.answer >= 0 else None
            verdicts.insert(0, Verdict(judge="verifier", kind="verifier", score=min(1.0, max(0.0, fused.score)),
                                       detail=f"learned verifier over {fused.n_answers} answer(s); fused answer "
                                              f"from {answer_model}"))
    verdicts = [_agreement(v, answer_canonical, similar) for v in verdicts]
    confidence = aggregate_confidence(verdicts, weights=fusion.weights, calibration=fusion.calibration)
    return attempt.model_copy(update={"verdicts": verdicts, "confidence": confidence, "answer_model": answer_model,
                                      "answer_canonical": answer_canonical, "measured": True})


def _answer_block(verifier: Scorer, state: CascadeState, models: list[str], called: list[bool],
                  answers: dict[str, Candidate], embed: Embed | None) -> np.ndarray | None:
    """(k, m): the answer features of the called models' answers, for a verifier that reads them."""
    features = verifier.answer_features
    if not features.enabled:
        return None
    texts = [answers[m].text if c else None for m, c in zip(models, called, strict=True)]
    logprobs = [answers[m].mean_logprob if c else None for m, c in zip(models, called, strict=True)]
    signals = request_signals(features, state.request.prompt, texts, logprobs, embed)
    return answer_block(features, signals, 1, len(models))[0]


def quorum_met(plan: Plan, tier: int, attempt: Attempt) -> bool:
    """Whether enough of the tier's judges stated a verdict for its confidence to be trusted: with a dial
    plan, the verifier scored and no agreement judge failed (the verifier was trained on every answer the
    plan buys); otherwise at least ``quorum`` judges (default: all) stated one."""
    verdicts = attempt.verdicts
    if plan.fusion is not None:
        return any(v.kind == "verifier" and v.score is not None for v in verdicts) and not any(
            v.failed for v in verdicts)
    spec = plan.tiers[tier]
    required = spec.quorum if spec.quorum is not None else len(spec.judges)
    return sum(1 for v in verdicts if v.score is not None and not v.failed) >= required


def step(state: CascadeState, outcome: TierOutcome | None = None, verifier: Scorer | None = None,
         embed: Embed | None = None, now: float | None = None) -> CascadeState:
    """Record the current tier's attempt, decide, and move the cursor when escalating.

    ``outcome`` is the tier's (default: the one the state machine left in ``state.current``);
    ``verifier`` is the learned verifier of the plan's dial (needed by fusing plans only); ``embed`` the
    sentence encoder (needed to compare free-text answers, and by a verifier that reads answer embeddings); ``now`` (epoch seconds) measures what
    is left of the request's deadline. Returns a new state; ``current`` is cleared so the next tier starts
    clean.
    """
    plan = state.plan
    attempt, bought = attempt_from(state, outcome if outcome is not None else TierOutcome.from_current(state.current))
    answers = {**state.answers, **bought}
    if attempt.candidate is not None:
        if plan.fusion is not None:
            attempt = fuse_attempt(state, plan, attempt, answers, verifier, embed)
        else:
            similar = similarity_test(embed, DEFAULT_TEXT_BAR)
            verdicts = [_agreement(v, attempt.answer_canonical, similar) for v in attempt.verdicts]
            tier_spec = plan.tiers[state.tier]
            weights = {j.name: j.weight for j in tier_spec.judges}
            confidence = aggregate_confidence(verdicts, weights=weights, calibration=tier_spec.calibration)
            attempt = attempt.model_copy(update={"verdicts": verdicts, "confidence": confidence,
                                                 "measured": tier_spec.calibration is not None})
    request = state.request
    if attempt.candidate is not None and (request.response_format is not None or request.tool_use is not None):
        forward = answers.get(attempt.answer_model or "", attempt.candidate)
        why = check(forward.text, request.response_format, request.tool_use)
        if why is not None:  # a free, deterministic judge that no confidence can overrule
            what = "tools" if request.tool_use is not None else "response_format"
            attempt = attempt.model_copy(update={"rejected": f"{what}: {why}"})
    attempts = [*state.attempts, attempt]
    spent = state.spent_usd + attempt.cost_usd
    next_index = state.tier + 1
    next_cost = plan.tiers[next_index].est_cost_usd if next_index < len(plan.tiers) else None
    threshold = plan.tiers[state.tier].threshold
    if state.request.quality is not None and plan.fusion is None:
        threshold = state.request.quality  # a dial plan's bars are the trained ones; quality chose its point
    decision = decide(tier=state.tier, n_tiers=len(plan.tiers),
                      answered=attempt.candidate is not None and attempt.rejected is None,
                      confidence=attempt.confidence, threshold=threshold, spent_usd=spent,
                      next_tier_cost_usd=next_cost,
                      max_cost_usd=state.request.max_cost_usd if state.request.max_cost_usd is not None
                      else plan.max_cost_usd,
                      attempts=attempts, quorum_met=quorum_met(plan, state.tier, attempt),
                      measured=plan.fusion is not None or plan.tiers[state.tier].calibration is not None,
                      meta=plan.tiers[state.tier].meta,
                      judged=plan.fusion is not None or bool(plan.tiers[state.tier].judges),
                      time_left_s=None if state.deadline is None or now is None else state.deadline - now)
    if decision.answer_tier is not None:
        chosen = next(a for a in attempts if a.tier == decision.answer_tier)
        decision = decision.model_copy(update={"answer_model": chosen.answer_model})
    return state.model_copy(update={
        "attempts": attempts,
        "answers": answers,
        "spent_usd": spent,
        "decision": decision,
        "tier": next_index if decision.action == "escalate" else state.tier,
        "current": None,
    })


def run(state: CascadeState, execute: Callable[[CascadeState], TierOutcome], verifier: Scorer | None = None,
        embed: Embed | None = None, clock: Callable[[], float] | None = None) -> CascadeState:
    """The cascade in one process: ``execute`` the current tier (its model and its judges), ``step``,
    until the decision is not to escalate; returns the final state. ``clock`` (epoch seconds) measures the
    request's deadline; without it the deadline is not consulted (a replay of recorded calls)."""
    while True:
        state = step(state, execute(state), verifier=verifier, embed=embed, now=clock() if clock else None)
        if state.decision is None or state.decision.action != "escalate":
            return state
