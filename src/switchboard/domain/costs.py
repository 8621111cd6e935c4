"""What a call can cost at most, known before it runs: the bounds that make ``max_cost_usd`` a cap.

Token counts come from a conservative bound rather than a guess. Every tokenizer Switchboard's providers
use is byte-level (GPT, Llama 3, Qwen, Claude) or SentencePiece with byte fallback (Llama 2, Mistral,
Gemma): a token covers at least one UTF-8 byte of the text, SentencePiece adds at most one leading-space
marker, and a chat template adds a few special tokens per message. So ``bytes + 16 per message + 32`` is
never below the real count (characters / 4 is: a CJK character is three bytes and often one token each,
so a four-character CJK prompt "estimated" at one token costs four). The output is bounded by the
request's ``max_tokens``, which every provider enforces, and a judge's by its verdict budget.

A tier's bound is its model's call plus every judge of the tier; a judge prompt carries at most
``MAX_FIELD_BYTES`` of the question and of the answer (``domain.verdicts``), so its bound is known before
the answer exists. The planner builds plans whose first tier fits the budget and the policy escalates
only when the next tier's bound still fits, so the spend recorded never exceeds ``max_cost_usd``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .catalog import ModelEntry, ModelPrice
from .decomposition import DECOMPOSER_MAX_TOKENS, decomposer_messages
from .judging import JudgeSpec
from .requests import ChatRequest, Message
from .verdicts import (
    WORST_FIELD,
    answer_field_limit,
    llm_judge_messages,
    logprob_judge_messages,
    self_verify_messages,
)

PER_MESSAGE_TOKENS = 16
PER_REQUEST_TOKENS = 32
# A native chat template's own tool section (its "# Tools" preamble and call format, beside the tools'
# schemas, which the protocol's instruction in the messages already counts): a model that renders tools
# natively reads up to this many tokens more than the messages' bytes bound
NATIVE_TOOLS_TOKENS = 256
VERDICT_MAX_TOKENS = 12  # "VERDICT: INCORRECT" is 5-7 tokens in every tokenizer above


def input_token_bound(messages: Sequence[Message]) -> int:
    """An upper bound of the input tokens ``messages`` can take (see the module docstring)."""
    return sum(len(m.content.encode("utf-8")) + PER_MESSAGE_TOKENS for m in messages) + PER_REQUEST_TOKENS


def call_bound(price: ModelPrice, messages: Sequence[Message], max_tokens: int) -> float:
    """The most one call can cost (USD)."""
    return price.cost(input_token_bound(messages), max_tokens)


def answer_bound(price: ModelPrice, request: ChatRequest) -> float:
    """The most a call answering the request itself can cost (a tier, an agreement judge)."""
    extra = NATIVE_TOOLS_TOKENS if request.tool_use is not None else 0
    return price.cost(input_token_bound(request.messages) + extra, request.max_tokens)


def judge_bound(request: ChatRequest, judge: JudgeSpec, entry: ModelEntry) -> float:
    """The most one judge of a tier can cost, whatever the answer it judges turns out to be."""
    if judge.kind == "agreement":  # the judge solves the request itself
        return answer_bound(entry.price, request)
    limit = answer_field_limit(request.max_tokens)
    conversation = request.messages
    if judge.kind == "llm_judge":
        return call_bound(entry.price, llm_judge_messages(request.prompt, WORST_FIELD, True, answer_limit=limit,
                                                          conversation=conversation), VERDICT_MAX_TOKENS)
    if judge.kind == "logprob":
        return call_bound(entry.price, logprob_judge_messages(request.prompt, WORST_FIELD, True, answer_limit=limit,
                                                              conversation=conversation), 1)
    if judge.kind == "self_verify":
        per_sample = call_bound(entry.price, self_verify_messages(request.prompt, WORST_FIELD, True,
                                                                  answer_limit=limit, conversation=conversation,
                                                                  examples=judge.examples),
                                VERDICT_MAX_TOKENS)
        return judge.samples * per_sample
    return 0.0  # the learned verifier runs in the decide task: no model call


def tier_bound(request: ChatRequest, model: str, judges: Sequence[JudgeSpec],
               catalog: Mapping[str, ModelEntry]) -> float:
    """The most a tier can cost: its model's call and every judge. A model missing from the catalogue
    cannot be called and costs nothing (its call fails and the cascade falls through)."""
    entry = catalog.get(model)
    cost = answer_bound(entry.price, request) if entry is not None else 0.0
    for judge in judges:
        judge_entry = catalog.get(judge.model or model)
        if judge_entry is not None:
            cost += judge_bound(request, judge, judge_entry)
    return cost


def decomposer_bound(request: ChatRequest, entry: ModelEntry) -> float:
    """The most the decomposer's call can cost: its instructions and the numbered request, and its reply."""
    return call_bound(entry.price, decomposer_messages(request), DECOMPOSER_MAX_TOKENS)


def budget_shares(budget: float, parts: Sequence[ChatRequest], model: str, judges: Sequence[JudgeSpec],
                  catalog: Mapping[str, ModelEntry]) -> list[float]:
    """Each part's share of ``budget`` (what is left of the request's after the decomposer): in proportion
    to what the part costs at most at the first tier the whole request was planned with, so a long part
    gets more than a short one and the shares add up to the budget - the cap over all the parts."""
    bounds = [max(tier_bound(part, model, judges, catalog), 1e-12) for part in parts]
    total = sum(bounds)
    return [budget * b / total for b in bounds]
