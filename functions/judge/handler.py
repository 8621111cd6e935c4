"""Judge Lambda: one judge on one candidate (one item of the judges' Map). Never raises for a judge's
own failure: that is an abstention, recorded with its reason."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer

from switchboard.composition import container
from switchboard.domain.state import JudgeTask
from switchboard.service import telemetry
from switchboard.service.tasks import run_judge

logger = Logger(service="switchboard-judge")
# X-Ray: the handler, and every AWS SDK call (Powertools patches boto3); a no-op outside Lambda
tracer = Tracer(service="switchboard-judge")
telemetry.use_xray(tracer)  # a subsegment per model call, annotated with its model, tier and cost


@tracer.capture_lambda_handler(capture_response=False)  # no prompt or answer in X-Ray
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    task = JudgeTask.model_validate(event)
    tracer.put_annotation("judge", task.judge.name)
    verdict = run_judge(task, container().catalog().models(), container().providers())
    logger.info("verdict", extra={"judge": verdict.judge, "score": verdict.score})
    return verdict.model_dump(mode="json")
