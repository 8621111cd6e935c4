"""A judge policy's cascade replayed on collected answers and verdicts, by the request path's own engine
(``domain.cascade.run``): the plan the router builds, its judges' recorded verdicts, ``step`` and
``decide``. Latency and cost are the sums of the recorded calls the cascade makes."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from switchboard.domain.cascade import TierOutcome, run
from switchboard.domain.catalog import ModelEntry, ModelPrice
from switchboard.domain.judging import JudgePolicy, JudgeSpec, fan_out
from switchboard.domain.planner import PlannerConfig, build_plan
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import Candidate, CascadeState, Plan, Verdict
from switchboard.domain.taxonomy import Category, Match
from switchboard.offline.judge_data import Collected, stated


def _catalog(data: Collected, catalog: dict[str, ModelEntry] | None) -> dict[str, ModelEntry]:
    if catalog:
        return {m: catalog[m] for m in data.models if m in catalog}

    return {m: ModelEntry(model_id=m, provider="replay", provider_model=m,
                          price=ModelPrice(input_usd_per_mtok=float(i + 1), output_usd_per_mtok=float(i + 1)))
            for i, m in enumerate(data.models)}


def plan_for_tiers(data: Collected, tiers: Sequence[str], policy: JudgePolicy,
                   catalog: dict[str, ModelEntry] | None) -> Plan:
    """The plan the request path builds for a prompt whose category lists ``tiers`` (a taxonomy match),
    judged by ``policy``, over ``catalog`` (without one: the collected models priced in their order)."""
    return _plan(data, tiers, policy, _catalog(data, catalog))


def _plan(data: Collected, tiers: Sequence[str], policy: JudgePolicy, catalog: dict[str, ModelEntry]) -> Plan:
    config = PlannerConfig(default_tiers=list(tiers), judges_per_tier=list(policy.judges),
                           self_verify_samples=policy.self_verify_samples, judge_policy=policy,
                           max_tiers=len(tiers))
    category = Category(name="collected", centroid=[1.0], tiers=list(tiers))
    request = ChatRequest(messages=[Message(role="user", content="x")], max_tokens=16)
    return build_plan(request=request, catalog=catalog, config=config, match=Match(category="collected",
                      similarity=1.0), category=category)


def replay(data: Collected, prompts: Sequence[str], tiers: Sequence[str], policy: JudgePolicy,
           catalog: dict[str, ModelEntry] | None = None, bar: float | None = None) -> dict[str, Any]:
    """The cascade ``tiers`` judged by ``policy`` on ``prompts``, run by the request path's engine
    (``domain.cascade.run``: the plan's own judges and bars, ``step``, ``decide``) over the collected
    answers and verdicts: each prompt gets the plan of the region it was placed in (``JudgePolicy.scoped``,
    as the router does); ``bar`` replaces the policy's bar (the curve over bars)."""
    entries = _catalog(data, catalog)
    plans: dict[str | None, Plan] = {}

    def plan_for(p: str | None) -> Plan:
        region = data.region.get(p) if policy.regions and p is not None else None
        if region not in plans:
            scoped = policy.scoped(region)
            plans[region] = _plan(data, tiers, scoped if bar is None else scoped.model_copy(update={"threshold": bar}),
                                  entries)
        return plans[region]

    if not prompts:
        plan_for(None)
    request = ChatRequest(messages=[Message(role="user", content="x")], max_tokens=16)
    correct, latency, cost, verified, escalated = [], [], [], 0, 0
    verified_right: list[float] = []  # whether each verified answer was right
    answered_by: dict[str, int] = {}
    for p in prompts:
        spent_ms: list[float] = []  # every recorded call the cascade makes, one after another
        state = run(CascadeState(request_id=p, request=request, plan=plan_for(p)),
                    partial(_recorded_tier, data, p, spent_ms))
        decision = state.decision
        chosen = state.attempts[decision.answer_tier].model if decision and decision.answer_tier is not None else None
        if decision is not None and decision.verified and chosen is not None:
            verified += 1
            verified_right.append(data.correct[(p, chosen)])
        escalated += int(len(state.attempts) > 1)
        if chosen is not None:
            answered_by[chosen] = answered_by.get(chosen, 0) + 1
        correct.append(data.correct[(p, chosen)] if chosen else 0.0)
        latency.append(sum(spent_ms))
        cost.append(state.spent_usd)
    n = max(1, len(prompts))
    # the tiers the request path lays out (skips applied), over every region these prompts fell in
    planned = sorted({t.model for plan in plans.values() for t in plan.tiers}, key=data.models.index)
    distinct = sorted({t.threshold for plan in plans.values() for t in plan.tiers})
    return {"tiers": planned, "judges": list(policy.judges), "bar": distinct[0] if len(distinct) == 1 else distinct,
            "prompts": len(prompts),
            "accuracy": round(float(np.mean(correct)), 4) if prompts else None,
            "mean_latency_ms": round(float(np.mean(latency)), 1) if prompts else None,
            "p50_latency_ms": round(float(np.median(latency)), 1) if prompts else None,
            "mean_cost_usd": float(np.mean(cost)) if prompts else None,
            "verified": round(verified / n, 4),
            "verified_accuracy": round(float(np.mean(verified_right)), 4) if verified_right else None,
            "escalated": round(escalated / n, 4),
            "answered_by": {m: answered_by.get(m, 0) for m in planned},
            "_correct": correct, "_latency": latency}


def _recorded_tier(data: Collected, prompt: str, spent_ms: list[float], state: CascadeState) -> TierOutcome:
    """The current tier of ``state`` as ``collect`` recorded it: the model's answer and what each of the
    plan's judge tasks said of it - a self-verification's samples one by one, as its fanned-out tasks
    return them (``judging.fan_out``), for ``step`` to fold - and a judge not collected is a failed one,
    counting against the quorum. ``spent_ms`` gets each call's recorded latency."""
    spec = state.plan.tiers[state.tier]
    own = data.answer[(prompt, spec.model)]
    spent_ms.append(own["latency_ms"])
    verdicts = []
    for task in fan_out(spec.judges):
        rows = data.samples.get((prompt, spec.model, task.name))
        if task.sample is not None and rows is not None:
            row = rows[task.sample] if task.sample < len(rows) else None
        elif task.sample:
            continue  # collected as one row of every sample: that row stands for the judge's first task
        else:
            row = data.verdict_row(prompt, spec.model, task.name, spec_samples(spec.judges, task))
        if row is None:
            verdicts.append(Verdict(judge=task.name, kind=task.kind, score=None, failed=True, detail="not collected",
                                    sample=task.sample))
            continue
        spent_ms.append(float(row["latency_ms"]))
        verdicts.append(Verdict(judge=task.name, kind=task.kind, score=stated(row["score"]), failed=bool(row["failed"]),
                                cost_usd=float(row["cost_usd"]), latency_ms=float(row["latency_ms"]),
                                sample=task.sample))
    candidate = Candidate(model=spec.model, text=own["text"], cost_usd=own["cost_usd"], latency_ms=own["latency_ms"])
    return TierOutcome(candidate=candidate, verdicts=verdicts)


def spec_samples(judges: Sequence[JudgeSpec], task: JudgeSpec) -> int | None:
    """How many samples the judge ``task`` came from asks for (a judge collected in one row: all of them)."""
    return next((j.samples for j in judges if j.name == task.name), None)
