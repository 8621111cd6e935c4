"""Tier Lambda: call the current tier's model. Provider errors propagate by class name
(ProviderTimeout / ProviderUnavailable are retried by the state machine, then caught)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from switchboard.composition import container
from switchboard.domain.state import CascadeState
from switchboard.service import telemetry
from switchboard.service.tasks import run_tier

logger = Logger(service="switchboard-tier")
# X-Ray: the handler, and every AWS SDK call (Powertools patches boto3); a no-op outside Lambda
tracer = Tracer(service="switchboard-tier")
telemetry.use_xray(tracer)  # a subsegment per model call, annotated with its model, tier and cost


@tracer.capture_lambda_handler(capture_response=False)  # no prompt or answer in X-Ray
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    state = CascadeState.model_validate(event)
    model = state.plan.tiers[state.tier].model
    logger.info("calling tier", extra={"request_id": state.request_id, "tier": state.tier, "model": model})
    tracer.put_annotation("request_id", state.request_id)
    tracer.put_annotation("tier", state.tier)  # type: ignore[arg-type]  # a number: numbers.Number is not static
    tracer.put_annotation("model", model)
    result = run_tier(state, container().catalog().models(), container().providers())
    return result.model_dump(mode="json")
