"""What a trace says about a request, in one place: its status, and the metrics published for it.

The record task (the state machine's last state) and the router's fallback for failed executions both
build traces here, so the rules cannot differ between the two.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from switchboard.domain.state import CascadeState
from switchboard.ports import Trace, TraceStore


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def answered(state: CascadeState) -> bool:
    """A request succeeded when the policy chose an answer (accepted, or the best one on a stop)."""
    return state.decision is not None and state.decision.answer_tier is not None


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
    return metrics
