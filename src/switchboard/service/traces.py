"""Traces: what a trace says about a request (its status, the metrics published for it) and the book the
services read and write them through.

The record task (the state machine's last state) and the router's fallback for failed executions both
build traces here, so the rules cannot differ between the two.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Literal

from switchboard.domain.composition import answered
from switchboard.domain.state import CascadeState
from switchboard.ports import Trace, TraceStore
from switchboard.service.commands import Feedback
from switchboard.service.errors import NotFound

log = logging.getLogger(__name__)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def trace_of(state: CascadeState, error: str | None = None) -> Trace:
    """The trace of ``state``; ``error`` marks an execution that failed before it could finish."""
    status: Literal["succeeded", "failed"] = "succeeded" if error is None and answered(state) else "failed"
    return Trace(trace_id=state.request_id, created_at=now_iso(), status=status, state=state, error=error)


def record(state: CascadeState, traces: TraceStore, ttl_days: int) -> dict:
    """Store the trace of a finished cascade (the record task's work)."""
    traces.put(trace_of(state), ttl_days)
    return {"trace_id": state.request_id, "stored": True}


def request_metrics(state: CascadeState) -> list[tuple[str, str, float]]:
    """(name, unit, value) of the per-request metrics: cost, escalations, tier reached, confidence."""
    metrics = [("Requests", "Count", 1.0), ("CostUSD", "Count", state.spent_usd),
               ("Escalations", "Count", float(max(0, len(state.attempts) - 1))),
               ("TierReached", "Count", float(state.tier))]
    if state.decision is not None and state.decision.confidence is not None:
        metrics.append(("Confidence", "Percent", 100 * state.decision.confidence))
    if state.decomposition is not None:  # the detector fired: was the request decomposed, into how many parts
        metrics.append(("DecomposedParts", "Count", float(len(state.decomposition.parts))))
    return metrics


class TraceBook:
    """The traces of requests, as the services read and write them: with their TTL, ``NotFound`` for one
    that does not exist, and failure traces kept even when the store fails (then logged)."""

    def __init__(self, store: TraceStore, ttl_days: int = 30) -> None:
        self.store = store
        self.ttl_days = ttl_days

    def get(self, trace_id: str) -> Trace:
        trace = self.store.get(trace_id)
        if trace is None:
            raise NotFound(f"no trace with id '{trace_id}' (traces expire after their TTL)")
        return trace

    def find(self, trace_id: str) -> Trace | None:
        return self.store.get(trace_id)

    def recent(self, owner: str | None, limit: int) -> list[Trace]:
        """The newest ``limit`` traces of the requests made with the key ``owner`` (None: without a key)."""
        return self.store.recent(owner, limit)

    def put(self, trace: Trace) -> None:
        self.store.put(trace, self.ttl_days)

    def keep(self, trace: Trace) -> None:
        """Write a trace the caller must not lose to an error of the store: the caller already answers
        with an error of its own, and the log keeps the rest."""
        try:
            self.store.put(trace, self.ttl_days)
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("could not write failure trace %s", trace.trace_id)

    def missing(self, trace_id: str) -> bool:
        """Whether no trace is stored under ``trace_id`` (an unreadable store counts as missing)."""
        try:
            return self.store.get(trace_id) is None
        except Exception:  # noqa: BLE001 - unreadable store: write the failure trace (it may fail too)
            return True

    def feedback(self, feedback: Feedback) -> dict:
        """Append the caller's score (and comment) to a stored trace, for the next training run."""
        entry = {"score": feedback.score, "comment": feedback.comment, "at": now_iso()}
        if not self.store.add_feedback(feedback.trace_id, entry):
            raise NotFound(f"no trace with id '{feedback.trace_id}'")
        return {"trace_id": feedback.trace_id, "stored": True}
