"""A shadow policy is planned beside the live one on every request, recorded in the trace, never run or
billed; one that fails is logged and recorded by its error type, and the live answer is the same."""

from __future__ import annotations

import logging

from switchboard.domain.dial import Dial, OperatingPoint
from switchboard.domain.release import Release, ShadowPolicy
from switchboard.domain.requests import ChatRequest, Message
from switchboard.ports import ReleaseModels
from tests.support.builder import build_services, complete
from tests.support.fakes import (
    InMemoryPolicy,
    InMemoryTraces,
    ScriptedProvider,
    ScriptedProviders,
    catalog_entry,
)

MODELS = ["small", "mid", "big"]
SHADOW = Release(version="20261204T040000Z-000000shadow", files={"router.onnx": "a" * 64}, published_at="t")


class Router:
    models = MODELS

    def __init__(self, p: dict[str, float]) -> None:
        self.p = p

    def predict(self, embedding):
        return self.p


class Exploding(Router):
    def predict(self, embedding):
        raise RuntimeError("the shadow router broke")


def _world(shadow_router):
    dial = Dial(models=MODELS, global_order=["mid", "small", "big"],
                points=[OperatingPoint(name="p", models=3, cheap=0.5, last=0.5)], profiles={"balanced": "p"})
    policy = InMemoryPolicy(None)
    if shadow_router is not None:
        policy.put_shadow(ShadowPolicy(release=SHADOW, dial=dial), "t")
    providers = ScriptedProviders({m: ScriptedProvider(lambda messages: "VERDICT: CORRECT" if "<<<ANSWER" in
                                                       messages[-1].content else "4") for m in MODELS})
    traces = InMemoryTraces()
    services = build_services([catalog_entry(m, price=p) for m, p in zip(MODELS, (0.1, 0.5, 2.0), strict=True)],
                              providers=providers, traces=traces, policy=policy,
                              shadow_models=lambda release: ReleaseModels(version=release.version, learned=shadow_router))
    return services, providers, traces


def _ask(services):
    return complete(services, ChatRequest(messages=[Message(role="user", content="What is 2 + 2?")]))


def test_the_shadow_plan_is_recorded_beside_the_live_one_and_nothing_is_bought_for_it():
    services, providers, traces = _world(Router({"small": 0.6, "mid": 0.7, "big": 0.9}))
    state = _ask(services)
    shadow = state.plan.shadow
    assert shadow is not None and shadow.error is None and shadow.release == SHADOW.version
    assert shadow.plan.route == "dial" and shadow.plan.tiers[0].model == "mid"  # the shadow dial's order
    assert shadow.est_cost_usd == shadow.plan.tiers[0].est_cost_usd > 0
    assert state.plan.tiers[0].model == "small"  # live: the default plan, cheapest first
    assert traces.items[state.request_id].state.plan.shadow == shadow  # in the trace
    # nothing bought for it: the same calls and spend as with no shadow policy installed
    alone, alone_providers, _ = _world(None)
    without = _ask(alone)
    assert without.plan.shadow is None and without.spent_usd == state.spent_usd
    assert {m: p.calls for m, p in alone_providers.providers.items()} == {
        m: p.calls for m, p in providers.providers.items()}


def test_a_shadow_that_fails_is_logged_and_ignored(caplog):
    live, _, _ = _world(Router({"small": 0.6, "mid": 0.7, "big": 0.9}))
    broken, _, _ = _world(Exploding({}))
    with caplog.at_level(logging.ERROR):
        state = _ask(broken)
    assert state.plan.shadow.error == "RuntimeError" and state.plan.shadow.plan is None
    assert "shadow policy failed; the request is unaffected" in caplog.text
    expected = _ask(live)
    assert state.decision.answer_model == expected.decision.answer_model
    assert state.spent_usd == expected.spent_usd and state.plan.tiers == expected.plan.tiers
