"""The work of the cascade's task states: call a tier's model, run one judge, decide.

The tier, judge and decide Lambdas are thin adapters over these functions; the local stack runs the same
handlers, so this code is what runs everywhere. Every answer a model gives within a request is bought
once: a tier or an agreement judge whose model already answered reuses that answer.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace

from switchboard.domain.answer_features import Embed
from switchboard.domain.answers import canonical_answer, same_answer
from switchboard.domain.cascade import step
from switchboard.domain.catalog import ModelEntry
from switchboard.domain.composition import compose
from switchboard.domain.costs import VERDICT_MAX_TOKENS
from switchboard.domain.formats import canonical_json, structured
from switchboard.domain.fusion import Scorer
from switchboard.domain.judging import fan_out
from switchboard.domain.requests import ChatRequest
from switchboard.domain.state import Candidate, CascadeState, JudgeTask, TierResult, Usage, Verdict
from switchboard.domain.timing import append, last_end
from switchboard.domain.verdicts import (
    LOGPROB_CHOICES,
    VERDICT_CHOICES,
    answer_field_limit,
    llm_judge_messages,
    logprob_judge_messages,
    logprob_score,
    parse_verdict,
    self_verify_messages,
    share_positive,
)
from switchboard.ports import (
    Completion,
    CompletionRequest,
    DeadlineExceeded,
    ProviderRejected,
    ProviderSource,
    Verifier,
)
from switchboard.service import telemetry, timing

log = logging.getLogger(__name__)
SELF_VERIFY_TEMPERATURE = 0.7
LOGPROB_ALTERNATIVES = 20  # first-token alternatives asked for


def _entry(catalog: dict[str, ModelEntry], model_id: str) -> ModelEntry:
    entry = catalog.get(model_id)
    if entry is None:
        raise ProviderRejected(f"model '{model_id}' is not in the catalogue")
    return entry


def _answer(model: str, completion: Completion, entry: ModelEntry, prompt: str, latency_ms: float,
            cap: int | None = None) -> Candidate:
    """A completion as an answer: priced (the provider's exact cost when it knows it, else the catalogue's
    price of the usage), keyed for comparison (``domain.answers``; a provider that read the key from a
    record - the replay provider - gives it as recorded) and clipped to ``cap`` bytes, the room the
    state has for it (the router sizes the cap so that this practically never happens)."""
    cost = completion.cost_usd if completion.cost_usd is not None else entry.price.cost(
        completion.input_tokens, completion.output_tokens)
    canonical = completion.canonical_answer if completion.canonical_recorded else canonical_answer(completion.text, prompt)
    text, clipped = completion.text, False
    if cap is not None and len(text.encode("utf-8")) > cap:
        text, clipped = text.encode("utf-8")[:cap].decode("utf-8", errors="ignore"), True
    return Candidate(model=model, text=text, clipped=clipped,
                     usage=Usage(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens),
                     cost_usd=cost, latency_ms=latency_ms, finish_reason=completion.finish_reason, canonical=canonical,
                     mean_logprob=completion.mean_logprob)


def _reused(answer: Candidate) -> Candidate:
    """An answer bought earlier in the request, put forward again: it costs nothing this time."""
    return answer.model_copy(update={"cost_usd": 0.0, "latency_ms": 0.0, "reused": True})


def solve(model: str, request: ChatRequest, catalog: dict[str, ModelEntry], providers: ProviderSource,
          deadline: float | None = None, cap: int | None = None,
          on_delta: Callable[[str], None] | None = None, tier: int | None = None,
          judge: str | None = None) -> Candidate:
    """Ask ``model`` the request itself (a tier, or an agreement judge that solves the prompt).
    ``on_delta`` receives the answer's text as the provider produces it (streaming providers only);
    ``tier`` and ``judge`` label the call's span."""
    entry = _entry(catalog, model)
    provider = providers.provider_for(entry)
    fmt = structured(request.response_format, request.tool_use)
    with telemetry.model_call(entry.provider, model, entry.provider_model, tier=tier, judge=judge) as call:
        started = time.perf_counter()
        completion = provider.complete(CompletionRequest(
            request.messages, max_tokens=request.max_tokens, temperature=request.temperature, deadline=deadline,
            response_format=fmt.openai() if fmt is not None else None, on_delta=on_delta, tools=request.tool_use))
        if request.stop:
            completion = cut_at_stop(completion, request.stop)
        candidate = _answer(model, completion, entry, request.prompt, (time.perf_counter() - started) * 1000, cap)
        call.done(entry.provider_model, completion.input_tokens, completion.output_tokens, candidate.cost_usd)
    if fmt is not None:  # structured answers agree when their JSON does, whatever the spacing
        candidate = candidate.model_copy(update={"canonical": canonical_json(candidate.text)})
    return candidate


def cut_at_stop(completion: Completion, stop: list[str]) -> Completion:
    """The completion ending before the first of the ``stop`` sequences (OpenAI's semantics: the sequence
    is not returned, and the finish reason is "stop"). Providers are asked for the whole answer and it is
    cut here, so every provider honours ``stop`` the same way; the tokens generated past it are paid."""
    cut = min((i for i in (completion.text.find(s) for s in stop if s) if i >= 0), default=-1)
    if cut < 0:
        return completion
    return replace(completion, text=completion.text[:cut], finish_reason="stop")


def run_tier(state: CascadeState, catalog: dict[str, ModelEntry], providers: ProviderSource) -> TierResult:
    """Call the model of the state's current tier - or reuse its answer when a judge already bought it in
    this request. Provider errors propagate (the state machine retries the transient ones and then falls
    through to the next tier)."""
    spec = state.plan.tiers[state.tier]
    judges = fan_out(spec.judges)  # a self-verification's k samples: k judge tasks, run side by side
    with (timing.stage("tier", tier=state.tier, model=spec.model) as clock,
          telemetry.tier_span(state.tier, spec.model, under=state.traceparent) as span):
        if state.tier == 0 and state.streamed is not None and state.streamed.model == spec.model:
            candidate = state.streamed  # bought while streaming it (the call was the router's)
        else:
            bought = state.answers.get(spec.model)
            candidate = (_reused(bought) if bought is not None
                         else solve(spec.model, state.request, catalog, providers, deadline=state.deadline,
                                    cap=state.plan.answer_bytes_cap, tier=state.tier))
        telemetry.outcome(span, candidate.cost_usd, candidate.usage.input_tokens, candidate.usage.output_tokens,
                          reused=candidate.reused)
    return TierResult(tier=state.tier, candidate=candidate, judges=judges, stage=clock.stage)


def run_judge(task: JudgeTask, catalog: dict[str, ModelEntry], providers: ProviderSource) -> Verdict:
    """Run one judge on a candidate. A judge that cannot judge abstains, saying why (and counts against
    the tier's quorum in ``decide``); it never raises. A self-verification that loses some samples scores
    the ones that returned a verdict. Judge prompts ask for a stated verdict (``domain.verdicts``); local
    models are constrained to the two verdict lines."""
    spec = task.judge
    started = time.perf_counter()
    model = spec.model or task.candidate.model
    with (timing.stage("judge", judge=spec.name, model=model) as clock,
          telemetry.judge_span(spec.name, spec.kind, model, under=task.traceparent) as span):
        try:
            if spec.kind == "agreement":
                verdict = _agreement(task, catalog, providers)
            elif spec.kind in ("llm_judge", "self_verify"):
                verdict = _ask_for_verdicts(task, catalog, providers)
            elif spec.kind == "logprob":
                verdict = _logprob(task, catalog, providers)
            elif spec.kind == "confidence":
                verdict = _confidence(task)
            else:
                verdict = Verdict(judge=spec.name, kind=spec.kind, score=None,
                                  detail=f"judge kind '{spec.kind}' does not run as a judge task")
        except Exception as exc:  # noqa: BLE001 - every judge failure is an abstention, recorded in the trace
            verdict = Verdict(judge=spec.name, kind=spec.kind, score=None, failed=True, sample=spec.sample,
                              detail=f"judge failed: {type(exc).__name__}: {str(exc)[:200]}")
        telemetry.outcome(span, verdict.cost_usd, verdict.usage.input_tokens, verdict.usage.output_tokens,
                          score=verdict.score, failed=verdict.failed)
    return verdict.model_copy(update={"latency_ms": round((time.perf_counter() - started) * 1000, 1),
                                      "stage": clock.stage})


def _ask_for_verdicts(task: JudgeTask, catalog: dict[str, ModelEntry], providers: ProviderSource) -> Verdict:
    spec = task.judge
    question, answer = task.request.prompt, task.candidate.text
    truncated = task.candidate.finish_reason == "length"
    entry = _entry(catalog, spec.model or task.candidate.model)
    provider = providers.provider_for(entry)
    limit = answer_field_limit(task.request.max_tokens)
    conversation = task.request.messages
    if spec.kind == "llm_judge":
        messages = llm_judge_messages(question, answer, truncated, answer_limit=limit, conversation=conversation)
        temperature, samples = 0.0, 1
    else:
        messages = self_verify_messages(question, answer, truncated, answer_limit=limit, conversation=conversation,
                                        examples=spec.examples)
        temperature, samples = SELF_VERIFY_TEMPERATURE, spec.samples
    scores: list[float | None] = []
    texts: list[str] = []
    failures: list[str] = []
    cost = 0.0
    usage = Usage()
    for _ in range(samples):
        try:
            with telemetry.model_call(entry.provider, entry.model_id, entry.provider_model, judge=spec.name) as call:
                completion = provider.complete(CompletionRequest(messages, max_tokens=VERDICT_MAX_TOKENS,
                                                                 temperature=temperature, deadline=task.deadline,
                                                                 choices=VERDICT_CHOICES))
                call.done(entry.provider_model, completion.input_tokens, completion.output_tokens,
                          entry.price.cost(completion.input_tokens, completion.output_tokens))
        except DeadlineExceeded as exc:
            failures.append(type(exc).__name__)
            break  # no time for more samples
        except Exception as exc:  # noqa: BLE001 - a failed sample lowers the count, not the judge
            failures.append(type(exc).__name__)
            continue
        cost += entry.price.cost(completion.input_tokens, completion.output_tokens)
        usage = Usage(input_tokens=usage.input_tokens + completion.input_tokens,
                      output_tokens=usage.output_tokens + completion.output_tokens)
        scores.append(parse_verdict(completion.text))
        texts.append(completion.text.strip()[:60])
    score = share_positive(scores)
    stated = sum(1 for v in scores if v is not None)
    detail = (f"{sum(1 for v in scores if v == 1.0)}/{stated} stated CORRECT of {samples} asked; "
              f"replies={texts}" + (f"; failed samples: {failures}" if failures else ""))
    if spec.sample is not None:
        detail = f"sample {spec.sample}: {detail}"
    if not scores and failures:  # no sample came back: the judge did not run
        return Verdict(judge=spec.name, kind=spec.kind, score=None, failed=True, cost_usd=cost, usage=usage,
                       detail=f"judge failed: every sample failed ({failures})", sample=spec.sample)
    if score is None:
        detail = f"no stated verdict, abstained: {detail}"
    return Verdict(judge=spec.name, kind=spec.kind, score=score, cost_usd=cost, usage=usage, detail=detail,
                   sample=spec.sample)


def _logprob(task: JudgeTask, catalog: dict[str, ModelEntry], providers: ProviderSource) -> Verdict:
    """One forward pass of the judge model: P(CORRECT) from its first token's probabilities. A provider
    that exposes none makes the judge abstain (it ran: not a failure)."""
    spec = task.judge
    entry = _entry(catalog, spec.model or task.candidate.model)
    provider = providers.provider_for(entry)
    messages = logprob_judge_messages(task.request.prompt, task.candidate.text,
                                      task.candidate.finish_reason == "length",
                                      answer_limit=answer_field_limit(task.request.max_tokens),
                                      conversation=task.request.messages)
    with telemetry.model_call(entry.provider, entry.model_id, entry.provider_model, judge=spec.name) as call:
        completion = provider.complete(CompletionRequest(messages, max_tokens=1, temperature=0.0,
                                                         deadline=task.deadline, choices=LOGPROB_CHOICES,
                                                         top_logprobs=LOGPROB_ALTERNATIVES))
        cost = entry.price.cost(completion.input_tokens, completion.output_tokens)
        call.done(entry.provider_model, completion.input_tokens, completion.output_tokens, cost)
    score = logprob_score(completion.first_token_logprobs)
    if score is None:
        detail = f"no token probabilities for CORRECT/INCORRECT, abstained (reply {completion.text!r:.40})"
    else:
        detail = f"P(CORRECT) = {score:.3f} from the first token (reply {completion.text!r:.20})"
    return Verdict(judge=spec.name, kind="logprob", score=score, cost_usd=cost, detail=detail,
                   usage=Usage(input_tokens=completion.input_tokens, output_tokens=completion.output_tokens))


def _confidence(task: JudgeTask) -> Verdict:
    """The answering model's own certainty: the geometric mean of the probabilities it gave the tokens of
    its answer (exp of their mean log-probability), read from the call that produced it - no model call,
    nothing to pay. An answer whose provider returned no token probabilities, or one that was cut off at
    the length limit (its tokens say nothing of the answer it did not finish), makes it abstain."""
    spec, candidate = task.judge, task.candidate
    if candidate.mean_logprob is None:
        return Verdict(judge=spec.name, kind="confidence", score=None,
                       detail="the answer's provider returned no token probabilities, abstained")
    if candidate.finish_reason == "length":
        return Verdict(judge=spec.name, kind="confidence", score=None,
                       detail="the answer was cut off at the length limit, abstained")
    score = math.exp(min(0.0, candidate.mean_logprob))
    return Verdict(judge=spec.name, kind="confidence", score=score,
                   detail=f"the answer's tokens had a geometric-mean probability of {score:.3f}")


def _agreement(task: JudgeTask, catalog: dict[str, ModelEntry], providers: ProviderSource) -> Verdict:
    """EMAFusion's agreement test: judge model J solves the prompt (or its answer bought earlier in the
    request is reused); its answer, carried to the decide task, is compared there with the answer the
    tier puts forward. The score here is the comparison with the tier's own answer (exact keys)."""
    spec = task.judge
    model = spec.model or task.candidate.model
    bought = task.answers.get(model)
    answer = (_reused(bought) if bought is not None
              else solve(model, task.request, catalog, providers, deadline=task.deadline, cap=task.answer_bytes_cap,
                         judge=spec.name))
    agrees = same_answer(task.candidate.canonical, answer.canonical)
    score = None if task.candidate.canonical is None or answer.canonical is None else float(agrees)
    how = "reused its answer bought earlier in this request" if answer.reused else "solved the prompt"
    return Verdict(judge=spec.name, kind="agreement", score=score, cost_usd=answer.cost_usd,
                   usage=Usage() if answer.reused else answer.usage,
                   detail=f"{model} {how}; answer {answer.canonical!r:.60}", answer_canonical=answer.canonical, answer=answer)


def execute_tier(state: CascadeState, catalog: dict[str, ModelEntry], providers: ProviderSource) -> dict:
    """One tier's work in one process, as the state machine does it: the tier task (``run_tier``), then
    each of its judges (``run_judge``, one after another where the state machine's Map runs them side by
    side); an error of the tier task is caught as the state machine's Catch would. Returns what the state
    machine leaves in ``state.current`` for the decide task."""
    try:
        result = run_tier(state, catalog, providers)
    except Exception as exc:  # noqa: BLE001 - as Catch States.ALL
        return {"Error": type(exc).__name__, "Cause": str(exc)[:500]}
    verdicts = [run_judge(JudgeTask(judge=j, request=state.request, candidate=result.candidate,
                                    answers=state.answers, deadline=state.deadline,
                                    answer_bytes_cap=state.plan.answer_bytes_cap,
                                    traceparent=state.traceparent), catalog, providers)
                for j in result.judges]
    return {**result.model_dump(), "verdicts": [v.model_dump() for v in verdicts]}


def verifier_for(state: CascadeState, verifier: Verifier | None) -> Scorer | None:
    """The deployed verifier, when it is the one the plan's dial was calibrated with; otherwise
    None, so the dial plan's tiers get no verifier verdict and nothing is accepted as verified on a
    miscalibrated score."""
    fusion = state.plan.fusion
    if fusion is None or verifier is None:
        return None
    if fusion.verifier_sha256 is None or fusion.verifier_sha256 == verifier.sha256:
        return verifier
    log.error("the plan's verifier %s is not the deployed one %s; not verifying",
              fusion.verifier_sha256[:12], verifier.sha256[:12])
    return None


def run_decide(state: CascadeState, verifier: Verifier | None = None, embed: Embed | None = None) -> CascadeState:
    """The decide task: fold the tier the state machine ran into the state and apply the policy
    (``domain.cascade.step``); the tier's, its judges' and this task's timing go into ``timing``."""
    with timing.stage("decide", tier=state.tier) as clock:
        state, stages = timing.fold_current(state)
        decided = step(state, verifier=verifier_for(state, verifier), embed=embed, now=time.time())
    # queued after its tier and every judge ended (after the stage before, when the tier task failed)
    return timing.with_stages(decided, append(stages, clock.stage, after=last_end(stages)))


def run_compose(state: CascadeState) -> CascadeState:
    """The compose task: the parts' answers composed (``domain.composition.compose``); the parts' stages and
    this task's go into ``timing``."""
    with timing.stage("compose") as clock:
        stages = timing.parts_folded(state)
        composed = compose(state)
    return timing.add_stage(timing.with_stages(composed, stages), clock.stage)


def run_in_process(state: CascadeState, catalog: dict[str, ModelEntry], providers: ProviderSource,
                   verifier: Verifier | None = None, embed: Embed | None = None) -> CascadeState:
    """The whole cascade in this process: the state machine's loop without Step Functions - the tier and
    its judges (``execute_tier``), then the decide task, until it does not escalate - for tests and tools
    that need no orchestration. A decomposed request runs each part's cascade (one after another, where the
    state machine's Map runs them side by side), then the compose task, as the state machine does."""
    if state.mode == "parts" and state.decomposition is not None:
        parts = [run_in_process(part, catalog, providers, verifier, embed) for part in state.decomposition.parts]
        return run_compose(state.model_copy(update={"decomposition": state.decomposition.model_copy(
            update={"parts": parts})}))
    while True:
        current = execute_tier(state, catalog, providers)
        state = run_decide(state.model_copy(update={"current": current}), verifier, embed)
        if state.decision is None or state.decision.action != "escalate":
            return state
