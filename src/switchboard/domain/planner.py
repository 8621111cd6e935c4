"""Build the cascade plan for one request: which models, in which order, judged how, with which bar.

Inputs are scores computed elsewhere (the taxonomy match, the learned router's per-model probabilities);
this module only turns numbers and prices into a plan. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from .catalog import ModelEntry
from .costs import tier_bound
from .dial import Dial, OperatingPoint, lay_out
from .judging import Calibration, JudgePolicy, JudgeSpec
from .requests import ChatRequest
from .state import Fusion, Plan, RouteKind, TierSpec
from .taxonomy import Category, Match, is_familiar


class PlannerConfig(BaseModel):
    """Tunable knobs of planning (the "dial"): defaults suit the local model pool."""

    default_tiers: list[str] = Field(min_length=1)
    similarity_threshold: float = Field(default=0.35, ge=-1.0, le=1.0)
    threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    self_verify_samples: int = Field(default=3, ge=1, le=16)
    judges_per_tier: list[str] = Field(default_factory=lambda: ["self_verify", "llm_judge"])
    max_tiers: int = Field(default=3, ge=1)
    learned_floor: float = Field(default=0.5, ge=0.0, le=1.0)
    # Measured judges (``switchboard train`` on collected verdicts). For a model it was measured on, its
    # judges and bar replace judges_per_tier and threshold (with its calibration where it has one: only then
    # are answers verified); models it never measured keep judges_per_tier and threshold, uncalibrated.
    judge_policy: JudgePolicy | None = None

    def calibration_for(self, model: str) -> Calibration | None:
        return self.judge_policy.calibration_for(model) if self.judge_policy else None

    def judge_roles(self, model: str) -> list[str]:
        if self.judge_policy is not None and self.judge_policy.covers(model):
            return list(self.judge_policy.judges)
        return list(self.judges_per_tier)

    def bar(self, model: str) -> float:
        if self.judge_policy is not None and self.judge_policy.covers(model):
            return self.judge_policy.threshold
        return self.threshold

    def samples(self) -> int:
        return self.judge_policy.self_verify_samples if self.judge_policy else self.self_verify_samples


class PlanningError(ValueError):
    """The request cannot be planned (e.g. a pinned or configured model is not in the catalogue)."""


class UnknownModel(PlanningError):
    """The caller pinned a model the catalogue does not have."""


class UnknownProfile(UnknownModel):
    """The caller asked for a profile of the dial (``auto:<profile>``) that it does not have."""


class NoToolModel(PlanningError):
    """The request offers tools and no model it could be planned on supports them."""

    param = "tools"


class BudgetTooSmall(PlanningError):
    """``max_cost_usd`` cannot pay for even the cheapest first tier of any plan for this request, so the
    request is refused before anything is spent."""


def _independent_judge(model: str, tiers: Sequence[str], catalog: Mapping[str, ModelEntry]) -> str:
    """The LLM judge's model: never the answering model when another exists. Prefer the next stronger tier
    of the plan, then another tier, then the cheapest other model of the catalogue (a single-tier or
    pinned plan still gets an independent grader); the answering model only when it is alone."""
    index = tiers.index(model)
    stronger = list(tiers[index + 1:])
    if stronger:
        return stronger[0]
    others = [m for m in tiers if m != model]
    if others:
        return others[-1]
    spare = [e for e in catalog.values() if e.model_id != model and e.routable]
    if spare:
        return min(spare, key=lambda e: (e.price.cost(1000, 250), e.model_id)).model_id
    return model


def _judges_for(model: str, tiers: Sequence[str], config: PlannerConfig,
                catalog: Mapping[str, ModelEntry]) -> list[JudgeSpec]:
    """Judges of one tier, by role: the answering model checks itself (``self_verify``, AutoMix's sampled
    self-verification; ``logprob``, its P(CORRECT) from one forward pass; ``confidence``, the probability it
    gave its own answer's tokens, read from the answering call) and another model grades it
    (``llm_judge``; ``logprob_other``) - see ``_independent_judge``."""
    judges: list[JudgeSpec] = []
    for kind in config.judge_roles(model):
        if kind == "self_verify":
            judges.append(JudgeSpec(kind="self_verify", model=model, samples=config.samples()))
        elif kind == "logprob":
            judges.append(JudgeSpec(kind="logprob", model=model))
        elif kind == "confidence":
            judges.append(JudgeSpec(kind="confidence", model=model))
        elif kind == "llm_judge":
            judges.append(JudgeSpec(kind="llm_judge", model=_independent_judge(model, tiers, catalog)))
        elif kind == "logprob_other":
            judges.append(JudgeSpec(kind="logprob", model=_independent_judge(model, tiers, catalog)))
        else:
            raise PlanningError(f"unknown judge kind in planner config: {kind}")
    return judges


def estimate_tier_cost(request: ChatRequest, entry: ModelEntry, judges: Sequence[JudgeSpec],
                       catalog: Mapping[str, ModelEntry]) -> float:
    """The most one tier can cost: its call at ``max_tokens`` plus each judge (``domain.costs``)."""
    return tier_bound(request, entry.model_id, judges, catalog)


def order_by_learned(probabilities: Mapping[str, float], catalog: Mapping[str, ModelEntry],
                     floor: float, max_tiers: int) -> list[str]:
    """EMAFusion-style ordering from the learned router: cheapest models predicted good enough first,
    and the model with the highest predicted success last (the safety net)."""
    known = {m: p for m, p in probabilities.items() if m in catalog}
    if not known:
        return []
    def price(m: str) -> float:
        return catalog[m].price.input_usd_per_mtok + catalog[m].price.output_usd_per_mtok

    best = max(known, key=lambda m: (known[m], -price(m)))
    # Only models cheaper than the safety net are worth trying first.
    cheap = sorted((m for m, p in known.items() if p >= floor and price(m) < price(best)),
                   key=lambda m: (price(m), -known[m]))
    return [*cheap[: max_tiers - 1], best]


def build_plan(*, request: ChatRequest, catalog: Mapping[str, ModelEntry], config: PlannerConfig,
               match: Match | None = None, category: Category | None = None,
               learned: Mapping[str, float] | None = None, pinned_model: str | None = None) -> Plan:
    """Choose the tiers for ``request``.

    Order of preference: a pinned model (the caller asked for one specific model: a single tier); a
    strong taxonomy match (the category's tier list); the learned router's probabilities; the default
    tier list. Models missing from the catalogue are skipped; a plan with no known model is an error.
    """
    route: RouteKind = "default"
    tiers: list[str]
    if pinned_model is not None:
        if pinned_model not in catalog:
            raise UnknownModel(f"unknown model '{pinned_model}'; known: {sorted(catalog)}")
        if request.tool_use is not None and not catalog[pinned_model].supports_tools:
            raise NoToolModel(f"model '{pinned_model}' does not support tools (its catalogue entry says so)")
        tiers, route = [pinned_model], "pinned"
    elif category is not None and is_familiar(match, category, config.similarity_threshold):
        tiers, route = list(category.tiers), "taxonomy"
    elif learned:
        tiers, route = order_by_learned(learned, catalog, config.learned_floor, config.max_tiers), "learned"
    else:
        tiers = list(config.default_tiers)
    usable = {m for m, e in catalog.items() if request.tool_use is None or e.supports_tools}
    tiers = [m for m in dict.fromkeys(tiers) if m in usable]  # with tools, only tool-capable models
    if route != "pinned" and config.judge_policy is not None and config.judge_policy.skip:
        policy = config.judge_policy
        worth = [m for m in tiers if not (m in policy.skip and policy.covers(m))]
        # the measured judges say the skipped tiers do not pay - against the model the policy goes straight
        # to, so only where the plan has such a model (measured, not skipped); never leaving a plan empty
        if any(m not in policy.skip and policy.covers(m) for m in worth):
            tiers = worth
    tiers = tiers[: config.max_tiers]
    if not tiers:
        tiers = [m for m in config.default_tiers if m in usable][: config.max_tiers]
        route = "default"
    if not tiers and request.tool_use is not None and catalog:
        raise NoToolModel("no model of the catalogue supports tools")
    if not tiers:
        raise PlanningError("no model of the plan is in the catalogue; check the catalog table")
    specs = []
    for model in tiers:
        judges = _judges_for(model, tiers, config, catalog)
        specs.append(TierSpec(model=model, judges=judges, threshold=config.bar(model),
                              est_cost_usd=estimate_tier_cost(request, catalog[model], judges, catalog),
                              calibration=config.calibration_for(model)))
    return Plan(tiers=specs, route=route, category=match.category if match else None,
                similarity=match.similarity if match else None, max_cost_usd=request.max_cost_usd)


def build_dial_plan(*, request: ChatRequest, catalog: Mapping[str, ModelEntry], dial: Dial,
                    point: OperatingPoint, router_p: Mapping[str, float], match: Match | None = None,
                    profile: str | None = None, verifier_sha256: str | None = None) -> Plan:
    """The cascade a trained dial lays out for this prompt (``domain.dial.lay_out``, the code training
    measured): tiers with agreement judges and the trained bars, fused by the learned verifier
    (``plan.fusion``). ``match`` is the prompt's nearest category - always taken, as in training.

    Every tier stays in the plan even when its model is missing from the catalogue (its call then fails
    and the cascade falls through, recorded in the trace): dropping it would run a cascade nobody measured.
    """
    layout = lay_out(dial, point, match.category if match else None)
    specs = []
    for model, judges, bar in zip(layout.tiers, layout.judges, layout.thresholds, strict=True):
        judge_specs = [JudgeSpec(kind="agreement", model=j) for j in judges]
        specs.append(TierSpec(model=model, judges=judge_specs, threshold=min(bar, 1.01),
                              est_cost_usd=tier_bound(request, model, judge_specs, catalog)))
    fusion = Fusion(models=list(dial.models), router_p=[float(router_p.get(m, 0.5)) for m in dial.models],
                    own_last=layout.own_last, weights=dict(dial.weights), calibration=dial.calibration,
                    verifier_sha256=verifier_sha256 or dial.verifier_sha256,
                    text_similarity_bar=dial.text_similarity_bar)
    return Plan(tiers=specs, route="dial", category=match.category if match else None,
                similarity=match.similarity if match else None, max_cost_usd=request.max_cost_usd,
                profile=profile, point=point.name, fusion=fusion)


def fits(plan: Plan, budget: float | None) -> bool:
    """Whether the plan's first tier - model and judges, at their bound - fits the budget. (Later tiers
    run only when their bound still fits what is left: ``policy.decide``.)"""
    return budget is None or plan.tiers[0].est_cost_usd <= budget


def within_budget(plan: Plan, request: ChatRequest, catalog: Mapping[str, ModelEntry], config: PlannerConfig,
                  alternatives: Sequence[Plan] = ()) -> Plan:
    """``plan`` when its first tier fits ``request.max_cost_usd``; else the first fitting plan of: the
    ``alternatives`` (other dial points, cheapest first), a single tier of a cheaper model with its judges,
    the cheapest model without judges (its answer can then only be returned unverified). Raises
    ``BudgetTooSmall`` - before anything is spent - when nothing fits."""
    budget = request.max_cost_usd
    if fits(plan, budget):
        return plan
    for alternative in alternatives:
        if fits(alternative, budget):
            return alternative
    if plan.route != "dial":
        usable = sorted((e for e in catalog.values() if e.routable
                         and (request.tool_use is None or e.supports_tools)),
                        key=lambda e: (tier_bound(request, e.model_id, [], catalog), e.model_id))
        if plan.route == "pinned":
            usable = [catalog[plan.tiers[0].model]]
        models = [e.model_id for e in usable]
        for model in models:
            judges = _judges_for(model, [model], config, catalog)
            tier = TierSpec(model=model, judges=judges, threshold=config.bar(model),
                            est_cost_usd=tier_bound(request, model, judges, catalog),
                            calibration=config.calibration_for(model))
            if tier.est_cost_usd <= (budget or 0.0):
                return plan.model_copy(update={"tiers": [tier]})
        for model in models:
            tier = TierSpec(model=model, judges=[], threshold=config.bar(model),
                            est_cost_usd=tier_bound(request, model, [], catalog))
            if tier.est_cost_usd <= (budget or 0.0):
                return plan.model_copy(update={"tiers": [tier]})
    cheapest = min([plan, *alternatives], key=lambda p: p.tiers[0].est_cost_usd)
    floor = min(cheapest.tiers[0].est_cost_usd,
                min((tier_bound(request, m, [], catalog) for m in catalog if plan.route != "dial"), default=1e9))
    raise BudgetTooSmall(f"max_cost_usd {budget:g} cannot pay for this request: its cheapest first tier can cost "
                         f"up to ${floor:.3g} (the prompt's length and max_tokens={request.max_tokens} bound it)")
