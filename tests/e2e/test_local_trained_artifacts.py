"""The self-optimisation loop on one machine: `switchboard train` on recorded outcomes of the local pool's
models -> `switchboard local --artifacts DIR` -> real local LLMs called in the order training chose.

The outcomes are synthetic (topical prompts; the 0.5B model recorded as good at code only, the 1.5B model
as good at everything), so the expected routes are known: code prompts try the 0.5B model first, history
prompts go straight to the 1.5B model, and no trained model is missing from the local catalogue.
"""

from __future__ import annotations

import json
import os

import pytest

from switchboard.local.server import api_gateway_event
from switchboard.local.stack import LocalStack
from tests.support.topical_outcomes import TOPICS, train_run

pytestmark = pytest.mark.e2e
pytest.importorskip("pandas")

SMALL, BIG = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"
# recorded per-call costs in the ratio of the local catalogue's nominal prices (1.5B = 3 x 0.5B)
MODELS = {
    SMALL: ({"code": 0.85, "arithmetic": 0.3, "history": 0.3}, 0.00001),
    BIG: ({"code": 0.98, "arithmetic": 0.9, "history": 0.9}, 0.00003),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from switchboard.cli.local import _pull_catalog_models

    _pull_catalog_models(None)
    run = train_run(tmp_path_factory.mktemp("loop"), MODELS)
    local = LocalStack(router_artifacts=run).start()
    yield local
    local.stop()


def route(local: LocalStack, prompt: str) -> dict:
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": 16}
    result = local.invoke_router(api_gateway_event("POST", "/v1/route", {"content-type": "application/json"},
                                                   json.dumps(body).encode()))
    assert result["statusCode"] == 200, result["body"]
    return json.loads(result["body"])


def test_trained_models_are_all_in_the_local_catalogue(stack):
    assert stack.warnings == []


# Unseen prompts of the recorded kinds (the templates with numbers training never saw): familiar to their
# category, so they take its trained tiers. Unfamiliar prompts go to the learned router (functional tests).
def test_code_prompt_tries_the_small_model_first_as_training_chose(stack):
    out = route(stack, TOPICS["code"](1001))
    assert (out["plan"]["route"], out["plan"]["category"]) == ("taxonomy", "code")
    assert [t["model"] for t in out["plan"]["tiers"]] == [SMALL, BIG]
    assert out["attempts"][0]["model"] == SMALL and out["attempts"][0]["candidate"]["text"].strip()


def test_history_prompt_goes_straight_to_the_model_that_knows_history(stack):
    out = route(stack, TOPICS["history"](1001))
    assert (out["plan"]["route"], out["plan"]["category"]) == ("taxonomy", "history")
    assert [t["model"] for t in out["plan"]["tiers"]] == [BIG]
    assert out["model"] == BIG and out["answer"].strip()
