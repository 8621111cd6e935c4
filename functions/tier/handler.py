"""Tier Lambda: call the current tier's model. Provider errors propagate by class name
(ProviderTimeout / ProviderUnavailable are retried by the state machine, then caught)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from switchboard.adapters.providers.registry import ProviderRegistry
from switchboard.adapters.stores.dynamo import DynamoCatalog
from switchboard.domain.models import CascadeState
from switchboard.service.settings import ModelCallSettings
from switchboard.service.tasks import run_tier

logger = Logger(service="switchboard-tier")
_deps: tuple[DynamoCatalog, ProviderRegistry] | None = None


def deps() -> tuple[DynamoCatalog, ProviderRegistry]:
    global _deps
    if _deps is None:
        s = ModelCallSettings.from_env()
        _deps = (DynamoCatalog(s.catalog_table), ProviderRegistry(model_dir=s.model_dir))
    return _deps


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    state = CascadeState.model_validate(event)
    catalog, providers = deps()
    model = state.plan.tiers[state.tier].model
    logger.info("calling tier", extra={"request_id": state.request_id, "tier": state.tier, "model": model})
    result = run_tier(state, catalog.models(), providers)
    return result.model_dump(mode="json")
