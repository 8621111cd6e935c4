"""The self-optimisation loop on one machine: `switchboard train` on recorded outcomes of the local pool's
models -> `switchboard local --artifacts DIR` -> real local LLMs called in the cascade training measured.

The outcomes are synthetic (topical prompts; the 0.5B model recorded as good at code only, the 1.5B model
as good at everything). The run's taxonomy and dial are published to the local stack's tables and its
ONNX models loaded as a deployment loads them, so a request runs the cascade the dial lays out for its
category, and no trained model is missing from the local catalogue.
"""

from __future__ import annotations

import json
import os

import pytest

from switchboard.domain.dial import Dial, lay_out
from switchboard.http.server import api_gateway_event
from switchboard.local.stack import LocalStack, StackOptions
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
    from switchboard.cli.stack_cmds import _pull_catalog_models

    _pull_catalog_models(None)
    run = train_run(tmp_path_factory.mktemp("loop"), MODELS)
    local = LocalStack(StackOptions(router_artifacts=run)).start()
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


# Unseen prompts of the recorded kinds (the templates with numbers training never saw) land in their
# category, and the cascade is the one the trained dial lays out for it at the default profile: the plan
# a deployment runs is the plan training measured (tests/functional/offline checks the decisions too).
@pytest.mark.parametrize("topic", ["code", "history"])
def test_prompts_run_the_cascade_the_trained_dial_lays_out_for_their_category(stack, topic):
    dial = Dial.model_validate_json((stack.options.router_artifacts / "dial.json").read_text())
    expected = lay_out(dial, dial.select(), topic)
    out = route(stack, TOPICS[topic](1001))
    plan = out["plan"]
    assert (plan["route"], plan["category"], plan["profile"]) == ("dial", topic, "balanced")
    assert [t["model"] for t in plan["tiers"]] == expected.tiers
    assert [[j["model"] for j in t["judges"]] for t in plan["tiers"]] == expected.judges
    assert [t["threshold"] for t in plan["tiers"]] == expected.thresholds
    # real local LLMs answered, in that order, and the trace names the answer it returned
    assert [a["model"] for a in out["attempts"]] == expected.tiers[:len(out["attempts"])]
    assert out["attempts"][0]["candidate"]["text"].strip()
    assert out["answer"].strip() and out["model"] in {SMALL, BIG}
