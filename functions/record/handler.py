"""Record Lambda: persist the trace (with TTL) and publish the request's metrics (EMF)."""

from __future__ import annotations

import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from switchboard.composition import container
from switchboard.domain.state import CascadeState
from switchboard.domain.timing import Stage
from switchboard.service.settings import RecordSettings
from switchboard.service.traces import record, request_metrics, stage_metrics

logger = Logger(service="switchboard-record")
# X-Ray: the handler, and every AWS SDK call (Powertools patches boto3); a no-op outside Lambda
tracer = Tracer(service="switchboard-record")
metrics = Metrics(namespace="Switchboard", service="switchboard")
# where metrics are disabled the handler adds none (below), and log_metrics would warn of that at every cold start
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)  # no prompt or answer in X-Ray
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    state = CascadeState.model_validate(event)
    tracer.put_annotation("request_id", state.request_id)
    stored = record(state, container().traces(), container().settings(RecordSettings).trace_ttl_days)
    stages = [*state.timing.stages, Stage.model_validate(stored["stage"])]
    # With metrics disabled (POWERTOOLS_METRICS_DISABLED: the local stack, replays), nothing is added: Powertools
    # does not publish them then, but keeps them, and prints the set once it holds 100 values of a metric.
    if not is_metrics_disabled():
        for name, unit, value in [*request_metrics(state), *stage_metrics(stages)]:
            metrics.add_metric(name=name, unit=unit, value=value)
    return stored
