"""Record Lambda: persist the trace (with TTL) and publish the request's metrics (EMF)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from switchboard.adapters.stores.dynamo import DynamoTraces
from switchboard.domain.models import CascadeState
from switchboard.service.ports import Trace
from switchboard.service.router import now_iso
from switchboard.service.settings import RecordSettings

logger = Logger(service="switchboard-record")
metrics = Metrics(namespace="Switchboard", service="switchboard")
_deps: tuple[RecordSettings, DynamoTraces] | None = None


def deps() -> tuple[RecordSettings, DynamoTraces]:
    global _deps
    if _deps is None:
        s = RecordSettings.from_env()
        _deps = (s, DynamoTraces(s.traces_table))
    return _deps


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    state = CascadeState.model_validate(event)
    settings, traces = deps()
    answered = state.decision is not None and state.decision.answer_tier is not None
    traces.put(Trace(trace_id=state.request_id, created_at=now_iso(),
                     status="succeeded" if answered else "failed", state=state), settings.trace_ttl_days)
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="CostUSD", unit=MetricUnit.Count, value=state.spent_usd)
    metrics.add_metric(name="Escalations", unit=MetricUnit.Count, value=max(0, len(state.attempts) - 1))
    metrics.add_metric(name="TierReached", unit=MetricUnit.Count, value=state.tier)
    if state.decision and state.decision.confidence is not None:
        metrics.add_metric(name="Confidence", unit=MetricUnit.Percent, value=100 * state.decision.confidence)
    return {"trace_id": state.request_id, "stored": True}
