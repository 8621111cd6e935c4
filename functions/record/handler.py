"""Record Lambda: persist the trace (with TTL) and publish the request's metrics (EMF)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from switchboard.composition import container
from switchboard.domain.state import CascadeState
from switchboard.domain.timing import Stage
from switchboard.service.settings import RecordSettings
from switchboard.service.traces import record, request_metrics, stage_metrics

logger = Logger(service="switchboard-record")
# X-Ray: the handler, and every AWS SDK call (Powertools patches boto3); a no-op outside Lambda
tracer = Tracer(service="switchboard-record")
metrics = Metrics(namespace="Switchboard", service="switchboard")


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)  # no prompt or answer in X-Ray
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    state = CascadeState.model_validate(event)
    tracer.put_annotation("request_id", state.request_id)
    stored = record(state, container().traces(), container().settings(RecordSettings).trace_ttl_days)
    stages = [*state.timing.stages, Stage.model_validate(stored["stage"])]
    for name, unit, value in [*request_metrics(state), *stage_metrics(stages)]:
        metrics.add_metric(name=name, unit=unit, value=value)
    return stored
