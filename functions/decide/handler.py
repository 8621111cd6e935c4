"""Decide Lambda: fold the tier's outcome into the state and apply the pure cascade policy (with a dial
plan, after fusing the answers bought so far with the training run's verifier)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from switchboard.composition import container
from switchboard.domain.state import CascadeState
from switchboard.service.tasks import run_decide

logger = Logger(service="switchboard-decide")
# X-Ray: the handler, and every AWS SDK call (Powertools patches boto3); a no-op outside Lambda
tracer = Tracer(service="switchboard-decide")


@tracer.capture_lambda_handler(capture_response=False)  # no prompt or answer in X-Ray
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    state = CascadeState.model_validate(event)
    verifier = container().verifier(state.plan.release) if state.plan.fusion is not None else None
    state = run_decide(state, verifier=verifier, embed=container().embed())
    decision = state.decision
    tracer.put_annotation("request_id", state.request_id)
    if decision is not None:
        tracer.put_annotation("decision", f"{decision.action}:{decision.reason}")
    logger.info("decision", extra={"request_id": state.request_id, "action": decision.action if decision else None,
                                   "reason": decision.reason if decision else None})
    return state.model_dump(mode="json")
