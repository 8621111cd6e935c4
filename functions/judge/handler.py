"""Judge Lambda: one judge on one candidate (one item of the judges' Map). Never raises for a judge's
own failure: that is an abstention, recorded with its reason."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from switchboard.adapters.providers.registry import ProviderRegistry
from switchboard.adapters.stores.dynamo import DynamoCatalog
from switchboard.domain.models import JudgeTask
from switchboard.service.settings import ModelCallSettings
from switchboard.service.tasks import run_judge

logger = Logger(service="switchboard-judge")
_deps: tuple[DynamoCatalog, ProviderRegistry] | None = None


def deps() -> tuple[DynamoCatalog, ProviderRegistry]:
    global _deps
    if _deps is None:
        s = ModelCallSettings.from_env()
        _deps = (DynamoCatalog(s.catalog_table), ProviderRegistry(model_dir=s.model_dir))
    return _deps


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    task = JudgeTask.model_validate(event)
    catalog, providers = deps()
    verdict = run_judge(task, catalog.models(), providers)
    logger.info("verdict", extra={"judge": verdict.judge, "score": verdict.score})
    return verdict.model_dump(mode="json")
