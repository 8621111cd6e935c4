"""The cost-accuracy dial: a training run's operating points, and how one lays out a request's cascade.

``switchboard train`` searches cascades on recorded outcomes and keeps named operating points; this module
is the one place that turns a point and a prompt's category into tiers, judges and confidence bars, so the
cascade measured offline (``switchboard.offline``) and the cascade the planner builds for a live request
are laid out by the same code. Pure: no I/O.

A point's cascade uses the first ``models - 1`` models of a tier order (the global one, the prompt's
category's, or the prompt's own - ``combined`` routing: the cheaper models with the best mix of the learned
router's P(correct) and the taxonomy's suitability, ``domain.axes``; ``learned`` and ``suitability`` are its
two ends), then the order's last model (the safety net, its most accurate). With ``pair_start`` the
second model answers at once as tier 0's agreement judge instead of being a tier of its own. ``cheap`` is
the bar of every tier but the decision before the safety net, whose bar is ``last``; the safety net's bar
is ``final_threshold`` (it accepts the fused answer of everything bought; with ``own_last``, its own).
A bar above 1 never accepts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .axes import AxisClassifier, Suitability, combined_order, combined_scores
from .judging import Calibration

T = TypeVar("T")
NEVER = 1.01  # a bar no confidence reaches
PROFILES = ("economy", "balanced", "best")
# Orders computed per prompt from its routing signals, with the weight of the learned router they use
# (None: the dial's fitted ``combine_weight``)
ROUTED_ORDERS: dict[str, float | None] = {"suitability": 0.0, "learned": 1.0, "combined": None}


class RouteSignals(BaseModel):
    """What a prompt's own tier order is computed from: the learned router's P(correct) and the taxonomy's
    suitability, each per model in ``Dial.models`` order (None where not available)."""

    router_p: list[float] | None = None
    phi: list[float] | None = None
    labels: dict[str, str] | None = None  # the four axes' labels the suitability was read for
DEFAULT_PROFILE = "balanced"


class PointConfig(BaseModel):
    """One cascade setting: which order, how many models, pair start, the bars, the safety net's answer."""

    model_config = ConfigDict(frozen=True)

    order: Literal["global", "category", "suitability", "learned", "combined"] = "global"
    pair_start: bool = False
    models: int = Field(default=1, ge=1)
    cheap: float = Field(default=NEVER, ge=0.0)
    last: float = Field(default=NEVER, ge=0.0)
    own_last: bool = False


class OperatingPoint(PointConfig):
    """A named setting of the dial, with what it achieved on the training prompts; ``per_category``
    overrides the setting for prompts matched to a category (e.g. straight to the strong model where the
    cheap ones are weak)."""

    name: str
    train_accuracy: float | None = None
    train_cost_per_1k: float | None = None  # USD per 1,000 prompts on the training prompts
    # 2-fold cross-validated estimates of the rule that chose the point (``offline.dial_profiles``): what a
    # request asking for a quality or a budget is matched against, and what the profiles were chosen on
    cv_accuracy: float | None = None
    cv_cost_per_1k: float | None = None

    @property
    def expected_accuracy(self) -> float | None:
        return self.cv_accuracy if self.cv_accuracy is not None else self.train_accuracy

    @property
    def expected_cost_per_1k(self) -> float | None:
        return self.cv_cost_per_1k if self.cv_cost_per_1k is not None else self.train_cost_per_1k
    budget_fraction: float | None = None  # the share of the best single model's cost it was chosen for
    per_category: dict[str, PointConfig] = Field(default_factory=dict)
    # AutoMix's POMDP meta-verifier where training found it better than a bar: per category (``"*"``: every
    # prompt of a category not listed), the accept / escalate step function of the confidence at the
    # decision before the safety net (``TierSpec.meta``); None or absent, that decision is ``last``'s bar.
    meta: dict[str, Calibration | None] = Field(default_factory=dict)

    def meta_for(self, category: str | None) -> Calibration | None:
        if category is not None and category in self.meta:
            return self.meta[category]
        return self.meta.get("*")

    def config_for(self, category: str | None) -> PointConfig:
        if category is not None and category in self.per_category:
            return self.per_category[category]
        return PointConfig(order=self.order, pair_start=self.pair_start, models=self.models, cheap=self.cheap,
                           last=self.last, own_last=self.own_last)


class Dial(BaseModel):
    """Everything the planner and the decide task need from a training run, besides the ONNX models.

    ``models`` is the order of the learned router's outputs and of the verifier's features;
    ``profiles`` names points (``economy``, ``balanced``, ``best``) a request can ask for;
    ``calibration`` and ``weights`` fold the verdicts into a confidence (``decision.aggregate_confidence``);
    ``verifier_sha256`` identifies the verifier the calibration was fitted with.
    """

    models: list[str] = Field(min_length=1)
    global_order: list[str] = Field(min_length=1)
    category_orders: dict[str, list[str]] = Field(default_factory=dict)
    points: list[OperatingPoint] = Field(min_length=1)
    profiles: dict[str, str] = Field(default_factory=dict)
    calibration: Calibration = Field(default_factory=Calibration)
    weights: dict[str, float] = Field(default_factory=dict)
    final_threshold: float = 0.0
    text_similarity_bar: float = Field(default=0.85, ge=-1.0, le=1.0)
    verifier_sha256: str | None = None
    best_single_model: str | None = None
    # combined routing (``domain.axes``): the axes' label sets and slow-classifier gate, the suitability
    # table, the learned router's weight, and each model's mean cost per call (to order cheapest first)
    axes: AxisClassifier | None = None
    suitability: Suitability | None = None
    combine_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    model_cost: list[float] | None = None

    def point(self, name: str) -> OperatingPoint:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(f"no operating point {name!r}; known: {[p.name for p in self.points]}")

    def order_for(self, mode: str, category: str | None, signals: RouteSignals | None = None,
                  n_models: int = 1) -> list[str]:
        """The tier order of ``mode`` for a prompt: the global one, its category's, or - for the routed
        orders, given its signals - its own (``combined_order``); the global one where the input is missing."""
        if mode == "category" and category is not None and category in self.category_orders:
            return self.category_orders[category]
        if mode in ROUTED_ORDERS and signals is not None and self.model_cost is not None and (
                signals.router_p is not None or signals.phi is not None):
            weight = ROUTED_ORDERS[mode]
            scores = combined_scores(None if signals.router_p is None else np.asarray(signals.router_p),
                                     None if signals.phi is None else np.asarray(signals.phi),
                                     self.combine_weight if weight is None else weight)
            net = self.models.index(self.global_order[-1])
            return [self.models[j] for j in combined_order(scores, self.model_cost, net, n_models - 1)]
        return self.global_order

    def select(self, *, profile: str | None = None, quality: float | None = None,
               max_cost_usd: float | None = None) -> OperatingPoint:
        """The point a request asks for: a named profile; else the cheapest point whose expected accuracy
        (cross-validated where training estimated it) reaches ``quality``; else the most accurate point whose
        expected cost per prompt fits ``max_cost_usd``; else the default profile. Raises ``KeyError`` for an
        unknown profile."""
        if profile is not None:
            if profile not in self.profiles:
                raise KeyError(f"unknown profile {profile!r}; known: {sorted(self.profiles)}")
            return self.point(self.profiles[profile])
        measured = [p for p in self.points if p.expected_accuracy is not None and p.expected_cost_per_1k is not None]

        def acc(p: OperatingPoint) -> float:
            return p.expected_accuracy or 0.0

        def cost(p: OperatingPoint) -> float:
            return p.expected_cost_per_1k or 0.0

        if quality is not None and measured:
            good = [p for p in measured if acc(p) >= quality]
            if good:
                return min(good, key=lambda p: (cost(p), p.name))
            return max(measured, key=lambda p: (acc(p), -cost(p)))
        if max_cost_usd is not None and measured:
            within = [p for p in measured if cost(p) / 1000 <= max_cost_usd]
            if within:
                return max(within, key=lambda p: (acc(p), -cost(p)))
            return min(measured, key=lambda p: (cost(p), p.name))
        if DEFAULT_PROFILE in self.profiles:
            return self.point(self.profiles[DEFAULT_PROFILE])
        return self.points[len(self.points) // 2]


def cascade_layout(order: Sequence[T], n_models: int, pair_start: bool) -> tuple[list[T], list[list[T]]]:
    """Tiers and each tier's agreement judges from a model order whose last model is the safety net."""
    order = list(order)
    n_models = max(1, min(n_models, len(order)))
    use = [*order[: n_models - 1], order[-1]]
    if pair_start and len(use) >= 3:
        return [use[0], *use[2:]], [[use[1]]] + [[] for _ in use[2:]]
    return use, [[] for _ in use]


def tier_thresholds(n_tiers: int, cheap: float, last: float, final: float) -> list[float]:
    """``last`` at the decision before the final tier, ``final`` at the final tier, ``cheap`` elsewhere."""
    bars = [last if t == n_tiers - 2 else cheap for t in range(n_tiers)]
    if n_tiers:
        bars[-1] = final
    return bars


class Layout(BaseModel):
    """A request's cascade as a dial point lays it out; ``meta[t]`` is tier t's meta-verifier, if any."""

    tiers: list[str]
    judges: list[list[str]]
    thresholds: list[float]
    own_last: bool
    meta: list[Calibration | None] = Field(default_factory=list)


def lay_out(dial: Dial, point: OperatingPoint, category: str | None, signals: RouteSignals | None = None) -> Layout:
    """The cascade of ``point`` for a prompt matched to ``category`` (None: no taxonomy), with its routing
    signals for the routed orders."""
    config = point.config_for(category)
    order = dial.order_for(config.order, category, signals, config.models)
    tiers, judges = cascade_layout(order, config.models, config.pair_start)
    meta: list[Calibration | None] = [None] * len(tiers)
    if len(tiers) >= 2:
        meta[-2] = point.meta_for(category)  # the decision before the safety net
    return Layout(tiers=tiers, judges=judges,
                  thresholds=tier_thresholds(len(tiers), config.cheap, config.last, dial.final_threshold),
                  own_last=config.own_last, meta=meta)


def route_signals(dial: Dial, router_p: Sequence[float] | np.ndarray | None,
                  axis_probs: Mapping[str, np.ndarray] | None) -> RouteSignals:
    """A prompt's routing signals as the planner and the offline replay both read them: the learned
    router's probabilities, and the fast classifier's (or fused) axis distributions read into labels and
    the dial's suitability for them."""
    labels = dial.axes.labels(axis_probs) if dial.axes is not None and axis_probs else None
    phi = dial.suitability.phi(labels) if labels is not None and dial.suitability is not None else None
    return RouteSignals(router_p=None if router_p is None else [float(x) for x in router_p],
                        phi=None if phi is None else [float(x) for x in phi], labels=labels)
