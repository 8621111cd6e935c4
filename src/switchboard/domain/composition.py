"""The composer: one answer from a decomposed request's parts, in the order of the parts.

Deterministic - each part's answer labelled with its number and concatenated - because the parts are
independent tasks (the decomposer is told to leave dependent tasks whole), so their answers need joining,
not rewriting; a model composer would add a call, a cost and a chance to corrupt an answer that its
judges verified. The request's decision follows from the parts': ``verified`` only when every part was
verified, the confidence that every part is right (the product of the parts' confidences, where each has
one), and what it spent is the decomposer's call plus every part's cascade (the composer costs nothing).

Pure: the compose task (``functions/compose``) and the in-process runner both call ``compose``.
"""

from __future__ import annotations

import math

from .state import Candidate, CascadeState, Decision, Usage

LABEL = "Part {n}:"


def answer_of(state: CascadeState) -> Candidate | None:
    """The answer a state returns: a decomposed request's composed answer; else the answer of
    ``decision.answer_model`` (with fusion, possibly a judge's), else the answering tier's own candidate."""
    if state.mode == "parts":
        return state.decomposition.composed if state.decomposition is not None else None
    decision = state.decision
    if decision is None or decision.answer_tier is None:
        return None
    if decision.answer_model is not None and decision.answer_model in state.answers:
        return state.answers[decision.answer_model]
    for attempt in state.attempts:
        if attempt.tier == decision.answer_tier and attempt.candidate is not None:
            return attempt.candidate
    return None


def decomposer_cost(state: CascadeState) -> float:
    """What the decomposer's call cost (0 when it was not called or failed before answering)."""
    call = state.decomposition.decomposer if state.decomposition is not None else None
    return call.reply.cost_usd if call is not None and call.reply is not None else 0.0


def composed_text(answers: list[Candidate | None]) -> str:
    """The parts' answers, each under its label, in order; a part nobody could answer says so."""
    blocks = []
    for n, answer in enumerate(answers, start=1):
        text = answer.text.strip() if answer is not None else "(no model could answer this part)"
        blocks.append(f"{LABEL.format(n=n)}\n{text}")
    return "\n\n".join(blocks)


def compose(state: CascadeState) -> CascadeState:
    """The decomposed request's final state: its parts (already run) composed into one answer, its decision
    and its spend (see the module docstring). A state that is not decomposed is returned as it is."""
    decomposition = state.decomposition
    if state.mode != "parts" or decomposition is None:
        return state
    parts = decomposition.parts
    answers = [answer_of(p) for p in parts]
    spent = decomposer_cost(state) + sum(p.spent_usd for p in parts)
    if not parts or all(a is None for a in answers):
        decision = Decision(action="stop", reason="parts_failed")
        return state.model_copy(update={"decision": decision, "spent_usd": spent,
                                        "decomposition": decomposition.model_copy(update={"composed": None})})
    models = list(dict.fromkeys(a.model for a in answers if a is not None))
    usage = Usage(input_tokens=sum(a.usage.input_tokens for a in answers if a is not None),
                  output_tokens=sum(a.usage.output_tokens for a in answers if a is not None))
    complete = all(a is not None for a in answers)
    finish = "length" if any(a is not None and a.finish_reason == "length" for a in answers) else "stop"
    composed = Candidate(model="+".join(models), text=composed_text(answers), usage=usage, cost_usd=0.0,
                         finish_reason=finish,
                         latency_ms=max((a.latency_ms for a in answers if a is not None), default=0.0))
    confidences = [p.decision.confidence if p.decision is not None else None for p in parts]
    confidence = math.prod(c for c in confidences if c is not None) if all(
        c is not None for c in confidences) else None
    verified = complete and all(p.decision is not None and p.decision.verified for p in parts)
    decision = Decision(action="accept" if complete else "stop", reason="composed" if complete else "part_unanswered",
                        confidence=confidence, answer_model=composed.model, verified=verified)
    return state.model_copy(update={"decision": decision, "spent_usd": spent,
                                    "decomposition": decomposition.model_copy(update={"composed": composed})})


def unanswered_parts(state: CascadeState) -> list[int]:
    """The parts (numbered from 1) of a decomposed request that no model answered."""
    parts = state.decomposition.parts if state.mode == "parts" and state.decomposition is not None else []
    return [k + 1 for k, part in enumerate(parts) if answer_of(part) is None]


def answered(state: CascadeState) -> bool:
    """Whether the request has an answer to return: a composed one of every part (a partial answer is not
    presented as complete), or the tier its decision chose."""
    if state.mode == "parts":
        return (state.decomposition is not None and state.decomposition.composed is not None
                and not unanswered_parts(state))
    return state.decision is not None and state.decision.answer_tier is not None
