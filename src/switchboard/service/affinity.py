"""A model that stays for the conversation (``domain.affinity``): the planner consults this before a
cascade starts, and the runner tells it which model answered once it ends.

- A request continuing a tool loop (tool results, or ``previous_response_id``) starts with the model that
  made the call, read from the trace of the request that made it.
- A session's request (``switchboard.session``, ``prompt_cache_key`` or ``user``, scoped to the caller's
  key) starts with the model whose answer the session last accepted, kept in the sessions table; an
  answer that was not accepted (escalated past, stopped) moves the session to the model that answered.

Either way escalation stays allowed. Kept apart from ``service.routing``: ``AffinityPlanner`` wraps the
route planner and changes nothing when a request has no conversation to keep.
"""

from __future__ import annotations

import logging

from switchboard.domain.affinity import answered_traces, continues, starting_with
from switchboard.domain.planner import PlanningError, fits
from switchboard.domain.requests import ChatRequest
from switchboard.domain.state import CascadeState, Plan
from switchboard.ports import SessionStore, StoreError, TraceStore
from switchboard.service.routing import RoutePlanner, RoutingSources

log = logging.getLogger(__name__)
SESSION_TTL_S = 3600  # a session's model is kept this long after its last accepted answer


def session_key(request: ChatRequest) -> str | None:
    """The session's key in the store: scoped to the caller's API key (None: no session)."""
    if request.session is None:
        return None
    return f"{request.key_id or '-'}|{request.session}"


class Affinity:
    """Finds the model a request's conversation is on, and remembers a session's model."""

    def __init__(self, traces: TraceStore, sessions: SessionStore | None = None, ttl_s: int = SESSION_TTL_S) -> None:
        self.traces = traces
        self.sessions = sessions
        self.ttl_s = ttl_s

    def model_for(self, request: ChatRequest) -> tuple[str, str] | None:
        """(model, why) the request should start with, or None to plan it afresh."""
        if continues(request):
            for trace_id in [*([request.previous_trace] if request.previous_trace else []), *answered_traces(request)]:
                model = self._answered_by(trace_id, request.key_id)
                if model is not None:
                    how = "a stored response" if trace_id == request.previous_trace else "a tool loop"
                    return model, f"continuation of {how}: {model} made the call (request {trace_id})"
        key = session_key(request)
        if key is not None and self.sessions is not None:
            try:
                model = self.sessions.get(key)
            except StoreError:
                log.exception("session store unavailable; planning afresh")
                return None
            if model is not None:
                return model, f"session: {model} answered its last accepted request"
        return None

    def _answered_by(self, trace_id: str, key_id: str | None) -> str | None:
        """The model that answered request ``trace_id``, when the same key made it (a call id is the
        caller's to send: another key's request is not looked into)."""
        try:
            trace = self.traces.get(trace_id)
        except StoreError:
            log.exception("trace store unavailable; planning the continuation afresh")
            return None
        state = trace.state if trace is not None else None
        if state is None or state.decision is None or state.request.key_id != key_id:
            return None
        return state.decision.answer_model

    def remember(self, state: CascadeState) -> None:
        """Keep the model that answered a session's request; a session whose request nobody answered
        keeps its model."""
        key = session_key(state.request)
        decision = state.decision
        if (key is None or self.sessions is None or decision is None or decision.answer_model is None
                or state.mode == "parts"):  # a decomposed request's answer is several models'
            return
        try:
            self.sessions.put(key, decision.answer_model, self.ttl_s)
        except StoreError:
            log.exception("session store unavailable; the session's model is not kept")


class AffinityPlanner(RoutePlanner):
    """The route planner, consulting ``Affinity`` first: a request of a conversation starts with its model."""

    def __init__(self, sources: RoutingSources, affinity: Affinity) -> None:
        super().__init__(sources)
        self.affinity = affinity

    def plan(self, request: ChatRequest, pinned_model: str | None = None) -> Plan:
        plan = super().plan(request, pinned_model)
        found = None if pinned_model is not None else self.affinity.model_for(request)
        if found is None:
            return plan
        model, why = found
        first = None
        if model not in {t.model for t in plan.tiers}:
            try:
                first = super().plan(request, model).tiers[0]
            except PlanningError:  # no longer in the catalogue, or cannot serve this request (tools)
                first = None
        steered = starting_with(plan, model, first, why)
        if not fits(steered, request.max_cost_usd):
            return plan.model_copy(update={"affinity": f"{why}; not applied: its tier does not fit max_cost_usd"})
        return steered
