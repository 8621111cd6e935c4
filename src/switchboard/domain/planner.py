"""Build the cascade plan for one request, in one pass: choose the tiers, attach their judges, price each
tier, fit the plan to the budget. Each step reads the result of the one before it.

Inputs are scores computed elsewhere (the taxonomy match, the learned router's per-model probabilities,
a trained dial's operating point); this module only turns numbers and prices into a plan. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from .catalog import ModelEntry
from .costs import tier_bound
from .dial import Dial, OperatingPoint, RouteSignals, lay_out, route_signals
from .judging import Calibration, JudgePolicy, JudgeSpec, WorkedExample, judges_for
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
    # Self-verification's worked examples where the judge policy brings none of its own (the shipped set)
    self_verify_examples: list[WorkedExample] = Field(default_factory=list)

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

    def examples(self, model: str) -> list[WorkedExample]:
        """The worked examples ``model``'s self-verification shows: those its judges were measured with,
        else the shipped set."""
        policy = self.judge_policy
        if policy is not None and policy.examples and policy.covers(model):
            return list(policy.examples)
        return list(self.self_verify_examples)


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


@dataclass(frozen=True)
class Routing:
    """What routing found for the prompt, computed by the caller: the nearest taxonomy category (and how
    near), the learned router's P(correct) per model where it was asked, or the model the caller pinned."""

    match: Match | None = None
    category: Category | None = None
    learned: Mapping[str, float] | None = None
    pinned: str | None = None


@dataclass(frozen=True)
class _Tier:
    """A tier between the steps of a pass: its model, then its judges and bar (``_attach_judges``)."""

    model: str
    judges: tuple[JudgeSpec, ...] = ()
    threshold: float = 0.6
    calibration: Calibration | None = None
    meta: Calibration | None = None


# ------------------------------------------------------------------------------------ step 1: tiers


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


def _choose_tiers(request: ChatRequest, catalog: Mapping[str, ModelEntry], config: PlannerConfig,
                  routing: Routing) -> tuple[list[str], RouteKind]:
    """The models of the cascade, in order, and how they were chosen. Order of preference: a pinned model
    (a single tier); a strong taxonomy match (the category's tier list); the learned router's
    probabilities; the default tier list. Models missing from the catalogue (or, with tools, unable to
    call them) are dropped, and so are the tiers the judge policy measured not to pay."""
    route: RouteKind = "default"
    if routing.pinned is not None:
        if routing.pinned not in catalog:
            raise UnknownModel(f"unknown model '{routing.pinned}'; known: {sorted(catalog)}")
        if request.tool_use is not None and not catalog[routing.pinned].supports_tools:
            raise NoToolModel(f"model '{routing.pinned}' does not support tools (its catalogue entry says so)")
        return [routing.pinned], "pinned"
    if routing.category is not None and is_familiar(routing.match, routing.category, config.similarity_threshold):
        tiers, route = list(routing.category.tiers), "taxonomy"
    elif routing.learned:
        tiers, route = order_by_learned(routing.learned, catalog, config.learned_floor, config.max_tiers), "learned"
    else:
        tiers = list(config.default_tiers)
    usable = {m for m, e in catalog.items() if request.tool_use is None or e.supports_tools}
    tiers = [m for m in dict.fromkeys(tiers) if m in usable]  # with tools, only tool-capable models
    policy = config.judge_policy
    if policy is not None and policy.skip:
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
    return tiers, route


# ----------------------------------------------------------------------------------- step 2: judges


def _attach_judges(tiers: Sequence[str], config: PlannerConfig, catalog: Mapping[str, ModelEntry],
                   judged: bool = True) -> list[_Tier]:
    """Each tier's judges (``judging.judges_for`` on the roles the config gives the model), bar and
    calibration; ``judged=False``: no judges (the answer can then only be returned unverified)."""
    out = []
    for model in tiers:
        try:
            judges = judges_for(model, tiers, config.judge_roles(model), config.samples(), catalog,
                                config.examples(model)) if judged else []
        except ValueError as exc:
            raise PlanningError(f"planner config: {exc}") from None
        out.append(_Tier(model, tuple(judges), config.bar(model), config.calibration_for(model) if judged else None))
    return out


# ------------------------------------------------------------------------------------ step 3: price


def _price(tiers: Sequence[_Tier], request: ChatRequest, catalog: Mapping[str, ModelEntry]) -> list[TierSpec]:
    """Each tier with the most it can cost - its call at ``max_tokens`` plus each judge (``domain.costs``)."""
    return [TierSpec(model=t.model, judges=list(t.judges), threshold=t.threshold, calibration=t.calibration,
                     meta=t.meta, est_cost_usd=tier_bound(request, t.model, t.judges, catalog)) for t in tiers]


# ------------------------------------------------------------------------------------- step 4: fit


def fits(plan: Plan, budget: float | None) -> bool:
    """Whether the plan's first tier - model and judges, at their bound - fits the budget. (Later tiers
    run only when their bound still fits what is left: ``decision.decide``.)"""
    return budget is None or plan.tiers[0].est_cost_usd <= budget


def _fit_budget(plan: Plan, request: ChatRequest, catalog: Mapping[str, ModelEntry], config: PlannerConfig | None,
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
    if config is not None:  # not a dial's plan: a single cheaper tier may do
        if plan.route == "pinned":
            models = [plan.tiers[0].model]
        else:
            usable = [e for e in catalog.values() if e.routable and (request.tool_use is None or e.supports_tools)]
            models = [e.model_id for e in sorted(usable, key=lambda e: (tier_bound(request, e.model_id, [], catalog),
                                                                         e.model_id))]
        for judged in ((True, False) if plan.route != "pinned" or request.verify else (False,)):
            for model in models:
                single = _price(_attach_judges([model], config, catalog, judged=judged), request, catalog)
                if single[0].est_cost_usd <= (budget or 0.0):
                    return plan.model_copy(update={"tiers": single})
    cheapest = min([plan, *alternatives], key=lambda p: p.tiers[0].est_cost_usd)
    floor = min(cheapest.tiers[0].est_cost_usd,
                min((tier_bound(request, m, [], catalog) for m in catalog if config is not None), default=1e9))
    raise BudgetTooSmall(f"max_cost_usd {budget:g} cannot pay for this request: its cheapest first tier can cost "
                         f"up to ${floor:.3g} (the prompt's length and max_tokens={request.max_tokens} bound it)")


# ------------------------------------------------------------------------------------- the passes


def build_plan(*, request: ChatRequest, catalog: Mapping[str, ModelEntry], config: PlannerConfig,
               match: Match | None = None, category: Category | None = None,
               learned: Mapping[str, float] | None = None, pinned_model: str | None = None) -> Plan:
    """The plan for ``request`` without a trained dial: tiers (``_choose_tiers``), their judges, their
    price, fitted to the budget."""
    routing = Routing(match=match, category=category, learned=learned, pinned=pinned_model)
    models, route = _choose_tiers(request, catalog, config, routing)
    tiers = _price(_attach_judges(models, config, catalog, judged=route != "pinned" or request.verify), request,
                   catalog)
    plan = Plan(tiers=tiers, route=route, category=match.category if match else None,
                similarity=match.similarity if match else None, max_cost_usd=request.max_cost_usd)
    return _fit_budget(plan, request, catalog, config)


def _dial_plan(request: ChatRequest, catalog: Mapping[str, ModelEntry], dial: Dial, point: OperatingPoint,
               fusion: Fusion, match: Match | None, profile: str | None, signals: RouteSignals | None = None) -> Plan:
    layout = lay_out(dial, point, match.category if match else None, signals)
    tiers = [_Tier(model, tuple(JudgeSpec(kind="agreement", model=j) for j in judges), min(bar, 1.01), meta=meta)
             for model, judges, bar, meta in zip(layout.tiers, layout.judges, layout.thresholds, layout.meta,
                                                 strict=True)]
    return Plan(tiers=_price(tiers, request, catalog), route="dial", category=match.category if match else None,
                similarity=match.similarity if match else None, max_cost_usd=request.max_cost_usd,
                profile=profile, point=point.name, fusion=fusion.model_copy(update={"own_last": layout.own_last}),
                labels=signals.labels if signals is not None else None)


def build_dial_plan(*, request: ChatRequest, catalog: Mapping[str, ModelEntry], dial: Dial,
                    point: OperatingPoint, router_p: Mapping[str, float], match: Match | None = None,
                    profile: str | None = None, verifier_sha256: str | None = None,
                    axis_probs: Mapping[str, np.ndarray] | None = None) -> Plan:
    """The cascade a trained dial lays out for this prompt (``domain.dial.lay_out``, the code training
    measured): tiers with agreement judges and the trained bars, fused by the learned verifier
    (``plan.fusion``), priced, and fitted to the budget - when ``point``'s first tier does not fit, the
    first cheaper point of the dial whose first tier does. ``match`` is the prompt's nearest category -
    always taken, as in training; ``axis_probs`` are the four-axis classifier's distributions, read into
    the dial's suitability for the combined orders (``domain.dial.route_signals``). Raises ``NoToolModel`` when the request offers tools and the point's
    cascade has a model that cannot call them (the caller then plans without the dial).

    Every tier stays in the plan even when its model is missing from the catalogue (its call then fails
    and the cascade falls through, recorded in the trace): dropping it would run a cascade nobody measured.
    """
    fusion = Fusion(models=list(dial.models), router_p=[float(router_p.get(m, 0.5)) for m in dial.models],
                    weights=dict(dial.weights), calibration=dial.calibration,
                    verifier_sha256=verifier_sha256 or dial.verifier_sha256,
                    text_similarity_bar=dial.text_similarity_bar)
    signals = route_signals(dial, fusion.router_p, axis_probs)
    chosen = _dial_plan(request, catalog, dial, point, fusion, match, profile, signals)
    if request.tool_use is not None and not all(t.model in catalog and catalog[t.model].supports_tools
                                                for t in chosen.tiers):
        raise NoToolModel(f"the dial's cascade at '{point.name}' has a model that cannot call tools")
    cheaper = sorted((p for p in dial.points if p.name != point.name), key=lambda p: (p.train_cost_per_1k or 0.0, p.name))
    return _fit_budget(chosen, request, catalog, None,
                       alternatives=[_dial_plan(request, catalog, dial, p, fusion, match, None, signals) for p in cheaper])
