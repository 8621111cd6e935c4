"""A model that stays for the conversation: which model a request should start with, and the plan that
starts there. Pure; ``service.affinity`` finds the model (a trace, a session) and calls these.

- A request that continues a tool loop - it carries tool results, or continues a stored response - is
  answered by the model that made the call: the call ids Switchboard hands out name the request (its
  trace) that made them (``call_id_for`` / ``trace_of_call``).
- Requests of one session (``switchboard.session``, a ``prompt_cache_key`` or a ``user``) start with the
  model that answered the session's last accepted request, so a provider's prompt cache stays warm.

Either way the plan starts with that model and keeps the planned tiers after it: escalation is still
allowed when its judges reject the answer. ``Plan.affinity`` records why the plan starts where it does.
"""

from __future__ import annotations

import re

from .requests import ChatRequest
from .state import Plan, TierSpec

_CALL_ID = re.compile(r"^(?:call|toolu|fc)_(?P<trace>[0-9a-f]{32})_\d+$")


def call_id_for(trace_id: str, index: int) -> str:
    """The id of the ``index``-th tool call of the answer of request ``trace_id``."""
    return f"call_{trace_id.replace('-', '')}_{index}"


def trace_of_call(call_id: str) -> str | None:
    """The request (trace id) that made a call with this id, when Switchboard gave it (else None)."""
    found = _CALL_ID.match(call_id)
    return found.group("trace") if found else None


def answered_traces(request: ChatRequest) -> list[str]:
    """The requests whose tool calls this request's conversation answers with tool results, the latest
    first (the calls being answered now)."""
    out: list[str] = []
    for message in reversed(request.messages):
        trace = trace_of_call(message.tool_call_id) if message.tool_call_id else None
        if trace is not None and trace not in out:
            out.append(trace)
    return out


def continues(request: ChatRequest) -> bool:
    """Whether the request continues a tool loop: it carries tool results or a previous response."""
    return request.previous_trace is not None or any(m.tool_call_id for m in request.messages)


def starting_with(plan: Plan, model: str, first: TierSpec | None, why: str) -> Plan:
    """``plan`` made to start with ``model``: its tiers from that model on when it is one of them, else
    ``first`` (the model's own tier, planned for this request) followed by every planned tier - so the
    cascade can still escalate past it. ``why`` goes into ``plan.affinity``. Unchanged when ``model`` is
    neither planned nor given a tier, or when the plan is a dial's (its cascade is the one measured)."""
    models = [t.model for t in plan.tiers]
    if plan.fusion is not None:
        return plan.model_copy(update={"affinity": f"{why}; not applied: a dial plan runs as trained"})
    if model in models:
        tiers = plan.tiers[models.index(model):]
    elif first is not None and first.model == model:
        tiers = [first, *plan.tiers]
    else:
        return plan.model_copy(update={"affinity": f"{why}; not applied: {model} cannot be planned for it"})
    return plan.model_copy(update={"tiers": tiers, "affinity": why})
