"""Tier Lambda: call the current tier's model. Provider errors propagate by class name
(ProviderTimeout / ProviderUnavailable are retried by the state machine, then caught)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from switchboard.composition import container
from switchboard.domain.state import CascadeState
from switchboard.service.tasks import run_tier

logger = Logger(service="switchboard-tier")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    state = CascadeState.model_validate(event)
    logger.info("calling tier", extra={"request_id": state.request_id, "tier": state.tier,
                                       "model": state.plan.tiers[state.tier].model})
    result = run_tier(state, container().catalog().models(), container().providers())
    return result.model_dump(mode="json")
