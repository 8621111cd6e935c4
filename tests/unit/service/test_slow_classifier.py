"""The slow classifier: asked only where the fast one is unsure and the budget allows, fused into those axes,
charged to the request; a failure leaves the fast labels and the request goes on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from switchboard.domain.axes import AxisClassifier, Suitability
from switchboard.domain.dial import Dial, OperatingPoint
from switchboard.domain.requests import ChatRequest, Message
from tests.support.builder import build_services, complete
from tests.support.fakes import InMemoryPolicy, ScriptedProvider, ScriptedProviders, catalog_entry

MODELS = ["law-small", "math-small", "big"]


class Router:
    models = MODELS

    def predict(self, embedding):
        return {"law-small": 0.5, "math-small": 0.5, "big": 0.9}


class Heads:
    """The fast classifier: unsure between law and math (margin 0.1)."""

    def predict(self, embedding):
        return {"domain": np.array([0.55, 0.45])}


def _world(slow_reply, lam=0.8, keys=None):
    suit = Suitability(models=MODELS, levels=[["domain"], []],
                       tables={"domain=law": [0.9, 0.1, 0.9], "domain=math": [0.1, 0.9, 0.9], "*": [0.5, 0.5, 0.9]})
    dial = Dial(models=MODELS, global_order=MODELS, model_cost=[1e-4, 1e-4, 1e-2], suitability=suit,
                axes=AxisClassifier(classes={"domain": ["law", "math"]}, margin=0.3, lam=lam, slow_model="math-small"),
                points=[OperatingPoint(name="p", order="suitability", models=2, cheap=0.5, last=0.5)],
                profiles={"balanced": "p"})
    judge = ScriptedProvider(lambda messages: "VERDICT: CORRECT" if "<<<ANSWER" in messages[-1].content else "4")

    def slow(messages):
        return slow_reply if "Label the request" in messages[-1].content else "4"

    providers = ScriptedProviders({"law-small": judge, "math-small": ScriptedProvider(slow), "big": judge})
    services = build_services([catalog_entry(m, price=p) for m, p in zip(MODELS, (0.1, 0.1, 5.0), strict=True)],
                              providers=providers, policy=InMemoryPolicy(dial), learned=Router(), axes=Heads(),
                              stream_tokens=True, keys=keys)
    return services, providers


def _ask(services, budget=None):
    return complete(services, ChatRequest(messages=[Message(role="user", content="Integrate x^2.")],
                                          max_cost_usd=budget))


def test_an_unsure_axis_is_asked_of_the_slow_model_fused_and_charged_to_the_request():
    services, providers = _world(json.dumps({"domain": "math"}))
    state = _ask(services)
    call = state.plan.classifier
    assert (call.model, call.axes, call.labels, call.pending, call.error) == ("math-small", ["domain"],
                                                                               {"domain": "math"}, False, None)
    assert call.cost_usd > 0 and call.latency_ms is not None
    # 0.8 * (0, 1) + 0.2 * (0.55, 0.45) -> math: math-small goes first
    assert state.plan.labels == {"domain": "math"} and state.plan.tiers[0].model == "math-small"
    assert state.spent_usd >= call.cost_usd + sum(a.candidate.cost_usd for a in state.attempts if a.candidate)


@pytest.mark.parametrize("reply", ["not json", json.dumps({"domain": "astrology"})])
def test_a_slow_answer_that_does_not_parse_into_the_label_set_leaves_the_fast_labels(reply):
    services, _ = _world(reply)
    state = _ask(services)
    assert state.plan.classifier.error is not None and state.plan.classifier.labels == {}
    assert state.plan.labels == {"domain": "law"} and state.plan.tiers[0].model == "law-small"
    assert state.decision.answer_tier is not None  # the request went on


def test_without_lambda_or_without_room_in_the_budget_it_is_not_asked():
    services, providers = _world(json.dumps({"domain": "math"}), lam=0.0)
    assert _ask(services).plan.classifier is None
    services, providers = _world(json.dumps({"domain": "math"}))
    plan = services.planner.plan(ChatRequest(messages=[Message(role="user", content="Integrate x^2.")]))
    tight = plan.tiers[0].est_cost_usd + plan.classifier.bound_usd / 2
    before = providers.providers["math-small"].calls
    state = _ask(services, budget=tight)
    assert state.plan.classifier is None and providers.providers["math-small"].calls - before <= 2


def test_on_a_key_with_a_budget_the_reservation_holds_the_slow_call_too_and_the_key_pays_what_was_spent():
    from switchboard.service.api_keys import KeyService, new_key
    from tests.support.builder import complete_chat
    from tests.support.fakes import InMemoryKeys

    store = InMemoryKeys()
    secret, key = new_key("svc", 1.0)
    store.create(key)
    services, _ = _world(json.dumps({"domain": "math"}), keys=KeyService(store, required=True))
    plan = services.planner.plan(ChatRequest(messages=[Message(role="user", content="Integrate x^2.")]))
    state = complete_chat(services, {"model": "auto", "messages": [{"role": "user", "content": "Integrate x^2."}]},
                          authorization=f"Bearer {secret}")
    assert state.plan.classifier.cost_usd > 0 and plan.classifier.bound_usd >= state.plan.classifier.cost_usd
    assert store.get(key.key_hash).spent_usd == pytest.approx(state.spent_usd)  # the slow call included
