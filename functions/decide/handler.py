"""Decide Lambda: fold the tier's outcome into the state and apply the pure cascade policy."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from switchboard.domain.cascade import step
from switchboard.domain.models import CascadeState

logger = Logger(service="switchboard-decide")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    state = step(CascadeState.model_validate(event))
    decision = state.decision
    logger.info("decision", extra={"request_id": state.request_id, "action": decision.action if decision else None,
                                   "reason": decision.reason if decision else None})
    return state.model_dump(mode="json")
