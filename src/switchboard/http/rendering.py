"""The final cascade state rendered as the API's responses: OpenAI's chat completion (with the
``switchboard`` extension and ``usage`` as billed), ``/v1/route``'s full plan, and a job's status."""

from __future__ import annotations

import json
import time
from typing import Any

from switchboard.domain.affinity import call_id_for
from switchboard.domain.composition import answer_of
from switchboard.domain.formats import check_answer, check_tool_answer
from switchboard.domain.state import Candidate, CascadeState
from switchboard.ports import Trace
from switchboard.service.errors import CascadeFailed


def switchboard_extension(state: CascadeState) -> dict[str, Any]:
    """What Switchboard did: the route, every tier it ran with each judge's verdict, the decision, the cost;
    for a decomposed request, each part's own (``decomposition``)."""
    decision = state.decision
    answer = answer_of(state)
    return {
        "trace_id": state.request_id,
        "route": state.plan.route,
        "profile": state.plan.profile,
        "point": state.plan.point,
        "category": state.plan.category,
        "similarity": state.plan.similarity,
        "judge_region": state.plan.judge_region,
        "affinity": state.plan.affinity,
        "answered_by": {"model": answer.model, "tier": decision.answer_tier} if answer and decision else None,
        "decision": decision.model_dump() if decision else None,
        "verified": bool(decision and decision.verified),
        "confidence": decision.confidence if decision else None,
        "cost_usd": round(state.spent_usd, 10),
        "tiers": [
            {
                "tier": a.tier,
                "model": a.model,
                "status": "rejected" if a.rejected else "answered" if a.candidate else "failed",
                "error": a.error or a.rejected,
                "confidence": a.confidence,
                "cost_usd": round(a.cost_usd, 10),
                "latency_ms": round(a.candidate.latency_ms, 1) if a.candidate else None,
                "answer_model": a.answer_model,
                "verdicts": [v.model_dump(exclude={"answer"}) for v in a.verdicts],
            }
            for a in state.attempts
        ],
        "planned_tiers": [t.model for t in state.plan.tiers],
        "decomposition": decomposition_view(state),
    }


def decomposition_view(state: CascadeState) -> dict[str, Any] | None:
    """A decomposition as the caller sees it: what the detector saw, the decomposer's call and what came
    of it, and each part - its text and, as for a whole request, its route, tiers, verdicts and cost."""
    d = state.decomposition
    if d is None:
        return None
    call = d.decomposer
    return {
        "decomposed": state.mode == "parts",
        "outcome": d.outcome,
        "cues": d.cues,
        "decomposer": None if call is None else {
            "model": call.model, "error": call.error,
            "cost_usd": round(call.reply.cost_usd, 10) if call.reply else 0.0,
            "latency_ms": call.reply.latency_ms if call.reply else None},
        "composer": d.composer,
        "parts": [{"part": n, "prompt": part.request.prompt, **switchboard_extension(part)}
                  for n, part in enumerate(d.parts, start=1)],
    }


def billed_usage(state: CascadeState) -> dict[str, int]:
    """OpenAI's ``usage`` for the whole request: the tokens of every call billed for it - each tier's
    answer and every judge's calls (an answer reused within the request is counted once); for a
    decomposed request the decomposer's call and every part's."""
    prompt = completion = 0
    d = state.decomposition
    if d is not None:
        if d.decomposer is not None and d.decomposer.reply is not None:
            prompt += d.decomposer.reply.usage.input_tokens
            completion += d.decomposer.reply.usage.output_tokens
        for part in d.parts:
            usage = billed_usage(part)
            prompt += usage["prompt_tokens"]
            completion += usage["completion_tokens"]
    for attempt in state.attempts:
        if attempt.candidate is not None and not attempt.candidate.reused:
            prompt += attempt.candidate.usage.input_tokens
            completion += attempt.candidate.usage.output_tokens
        for verdict in attempt.verdicts:
            prompt += verdict.usage.input_tokens
            completion += verdict.usage.output_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def answer_message(state: CascadeState, candidate: Candidate) -> tuple[dict[str, Any], str]:
    """The assistant message returned and its finish reason: the answer's text; with a ``response_format``
    its JSON alone; with tools, OpenAI's ``tool_calls`` (or the text the model answered instead). The
    cascade never accepts an answer that fails its check, so the parse here succeeds."""
    finish = candidate.finish_reason if candidate.finish_reason in ("stop", "length") else "stop"
    request = state.request
    if request.tool_use is not None:
        parsed, why = check_tool_answer(candidate.text, request.tool_use)
        if parsed is None:  # pragma: no cover - the decide step rejects such answers
            raise CascadeFailed(state.request_id, f"the answer does not follow the tool-call protocol: {why}")
        if "content" in parsed:
            return {"role": "assistant", "content": parsed["content"]}, finish
        calls = [{"id": call_id_for(state.request_id, i), "type": "function",
                  "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)}}
                 for i, c in enumerate(parsed["tool_calls"])]
        return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
    if request.response_format is None:
        return {"role": "assistant", "content": candidate.text}, finish
    text, why = check_answer(candidate.text, request.response_format)
    if text is None:  # pragma: no cover - the decide step rejects such answers
        raise CascadeFailed(state.request_id, f"the answer does not meet the response_format: {why}")
    return {"role": "assistant", "content": text}, finish


def chat_completion_response(state: CascadeState) -> dict[str, Any]:
    candidate = answer_of(state)
    if candidate is None:
        raise CascadeFailed(state.request_id, "the cascade produced no answer")
    message, finish_reason = answer_message(state, candidate)
    return {
        "id": f"chatcmpl-{state.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": candidate.model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason,
        }],
        "usage": billed_usage(state),
        "switchboard": {**switchboard_extension(state),
                        "answer_usage": {"prompt_tokens": candidate.usage.input_tokens,
                                         "completion_tokens": candidate.usage.output_tokens}},
    }


def job_response(trace: Trace, lost: bool = False) -> dict[str, Any]:
    """``GET /v1/jobs/{id}``: a job's status and, once it is done, its result (``/v1/route``'s body) or
    error. ``lost``: the job is past its deadline and no result was recorded."""
    created = trace.created_at
    body: dict[str, Any] = {"id": trace.trace_id, "object": "job", "created_at": created, "trace_id": trace.trace_id}
    if trace.status == "running" and not lost:
        return {**body, "status": "running"}
    if trace.status == "succeeded" and trace.state is not None:
        return {**body, "status": "succeeded", "result": route_response(trace.state)}
    why = ("the cascade stopped without recording a result" if lost
           else trace.error or "no model could answer; see the trace")
    return {**body, "status": "failed", "error": {"message": why, "type": "cascade_failed", "code": "cascade_failed"}}


def route_response(state: CascadeState) -> dict[str, Any]:
    """``POST /v1/route``: the answer with the full plan, every attempt and the decision."""
    response = chat_completion_response(state)
    message = response["choices"][0]["message"]
    return {"trace_id": state.request_id, "answer": message["content"], "tool_calls": message.get("tool_calls"),
            "model": response["model"], "switchboard": switchboard_extension(state),
            "plan": state.plan.model_dump(), "attempts": [a.model_dump() for a in state.attempts],
            "decision": state.decision.model_dump() if state.decision else None}
