"""Compose Lambda: a decomposed request's parts, each run by its own cascade in the state machine's Map,
composed into one answer with the request's decision and spend (``domain.composition.compose``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from switchboard.domain.composition import compose
from switchboard.domain.state import CascadeState

logger = Logger(service="switchboard-compose")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    state = compose(CascadeState.model_validate(event))
    decision = state.decision
    logger.info("composed", extra={"request_id": state.request_id,
                                   "parts": len(state.decomposition.parts) if state.decomposition else 0,
                                   "verified": decision.verified if decision else None})
    return state.model_dump(mode="json")
