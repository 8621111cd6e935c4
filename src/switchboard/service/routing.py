"""Routing: which cascade a request gets. Embed the prompt, place it in the judge policy's regions and the
taxonomy, ask the learned router or the published dial, and hand the numbers to the one-pass planner
(``domain.planner``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from switchboard.domain.catalog import ModelEntry
from switchboard.domain.dial import DEFAULT_PROFILE, Dial
from switchboard.domain.judging import JudgePolicy, WorkedExample
from switchboard.domain.planner import (
    BudgetTooSmall,
    NoToolModel,
    PlannerConfig,
    UnknownProfile,
    build_dial_plan,
    build_plan,
)
from switchboard.domain.release import Release, ShadowPolicy
from switchboard.domain.requests import ChatRequest
from switchboard.domain.state import ClassifierCall, Plan, ShadowRecord
from switchboard.domain.taxonomy import (
    Category,
    CentroidIndex,
    Match,
    TaxonomyMismatch,
    is_familiar,
    routing_text,
)
from switchboard.ports import CatalogSource, Encoder, PolicySource, ReleaseModels, TaxonomySource
from switchboard.service.slow_classifier import SlowClassifier

log = logging.getLogger(__name__)


def default_tier_order(catalog: Mapping[str, ModelEntry]) -> list[str]:
    """Cheapest first, by list price of a typical call (1k tokens in, 250 out); only routable models."""
    usable = [e for e in catalog.values() if e.routable]
    return [e.model_id for e in sorted(usable, key=lambda e: (e.price.cost(1000, 250), e.model_id))]


@dataclass
class RoutingSources:
    """Where routing reads from: the catalogue and taxonomy, the published dial and judge policy (and
    the deployment's default judge policy until one is published), the release's models and the encoder."""

    catalog: CatalogSource
    taxonomy: TaxonomySource
    encoder_factory: Callable[[], Encoder]
    # the release's learned router and verifier in force (``adapters.releases``; a dial must have been
    # trained with that router and calibrated with that verifier)
    models: Callable[[], ReleaseModels] = ReleaseModels
    # any release's models (a shadow policy's), loaded verified; None: shadow policies are not planned
    shadow_models: Callable[[Release], ReleaseModels | None] | None = None
    # the four-axis taxonomy's slow classifier, where the dial configures one (None: fast labels only)
    slow: SlowClassifier | None = None
    policy: PolicySource | None = None
    default_judge_policy: JudgePolicy | None = None
    planner_overrides: dict = field(default_factory=dict)
    # self-verification's worked examples where the judge policy has none of its own (the shipped set)
    default_examples: list[WorkedExample] = field(default_factory=list)


class RoutePlanner:
    """Plans requests (``plan``) and says what is in force (``dial``, ``judge_policy``)."""

    def __init__(self, sources: RoutingSources) -> None:
        self.sources = sources
        self._encoder: Encoder | None = None
        self._index: tuple[int, CentroidIndex] | None = None
        self._dial_problem: str | None = None

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = self.sources.encoder_factory()
        return self._encoder

    def dial(self, models: ReleaseModels | None = None) -> Dial | None:
        """The published dial, when it can be run as trained: the learned router it was trained with is
        loaded (same models) and the verifier it was calibrated with is deployed (same sha256)."""
        s = self.sources
        dial = s.policy.dial() if s.policy is not None else None
        if dial is None:
            return None
        models = models if models is not None else s.models()
        problem = None
        if models.learned is None:
            problem = "no learned router is loaded (switchboard publish DIR puts a run's models in force)"
        elif list(models.learned.models) != dial.models:
            problem = "the loaded learned router scores other models than the dial"
        elif dial.verifier_sha256 and dial.verifier_sha256 != models.verifier_sha256:
            problem = "the loaded verifier is not the one the dial was calibrated with (publish its run)"
        if problem is not None:
            if problem != self._dial_problem:  # once per cause, not once per request
                log.error("published dial not used: %s; planning without it", problem)
            self._dial_problem = problem
            return None
        return dial

    def judge_policy(self) -> JudgePolicy | None:
        """The published judge policy, else the deployment's default (``SB_JUDGE_POLICY``)."""
        published = self.sources.policy.judge_policy() if self.sources.policy is not None else None
        return published or self.sources.default_judge_policy

    def plan(self, request: ChatRequest, pinned_model: str | None = None) -> Plan:
        """The request's cascade: pinned, laid out by the published dial, or planned from the taxonomy
        match and the learned router; the judge policy applies as measured in the region the prompt
        falls in (``JudgePolicy.locate``)."""
        catalog = self.sources.catalog.models()
        policy = self.judge_policy()
        embedding: np.ndarray | None = None
        region: str | None = None
        if policy is not None and policy.regions:
            embedding = self.encoder.embed_one(routing_text(request.prompt))
            region = policy.locate(embedding)
            policy = policy.scoped(region)
        config = PlannerConfig(default_tiers=default_tier_order(catalog) or ["none"],
                               **{"judge_policy": policy, "self_verify_examples": self.sources.default_examples,
                                  **self.sources.planner_overrides})
        if pinned_model is not None:
            plan = build_plan(request=request, catalog=catalog, config=config, pinned_model=pinned_model)
            return plan.model_copy(update={"judge_region": region})
        models = self.sources.models()
        dial = self.dial(models)
        if dial is None and request.profile is not None:
            raise UnknownProfile(f"profile '{request.profile}' needs a trained dial, and none is published "
                                 "(switchboard train, then switchboard publish); use model 'auto'")
        if embedding is None:
            embedding = self.encoder.embed_one(routing_text(request.prompt))
        match, category = self._match(embedding)
        plan = self._auto_plan(request, catalog, config, models, dial, embedding, match, category)
        plan = plan if plan.route == "dial" else plan.model_copy(update={"judge_region": region})
        return plan.model_copy(update={"release": models.version,
                                       "shadow": self._shadow(request, catalog, embedding, match)})

    def _auto_plan(self, request: ChatRequest, catalog: Mapping[str, ModelEntry], config: PlannerConfig,
                   models: ReleaseModels, dial: Dial | None, embedding: np.ndarray, match: Match | None,
                   category: Category | None) -> Plan:
        learned = models.learned
        if dial is not None and learned is not None:
            try:
                fast = self._axes(models, embedding)
                plan = self._dial_plan(request, catalog, dial, learned.predict(embedding), match,
                                       models.verifier_sha256, fast)
                return plan.model_copy(update={"axis_probs": None if fast is None else {
                    a: [round(float(x), 6) for x in p] for a, p in fast.items()},
                    "classifier": self._pending_classifier(request, dial, fast, plan)})
            except NoToolModel:
                pass  # the dial's cascade has a model that cannot call tools: plan on the tool-capable models
        scores = None
        if learned is not None and not is_familiar(match, category, config.similarity_threshold):
            try:
                scores = learned.predict(embedding)
            except Exception:  # noqa: BLE001 - an unusable learned router degrades to the default plan
                log.exception("learned router failed; planning without it")
        return build_plan(request=request, catalog=catalog, config=config, match=match, category=category,
                          learned=scores)

    def _shadow(self, request: ChatRequest, catalog: Mapping[str, ModelEntry], embedding: np.ndarray,
                match: Match | None) -> ShadowRecord | None:
        """The shadow policy's plan for the request, when one is installed (``publish --shadow``): planned
        as the live one would be with its dial and models, recorded, never run. A shadow policy that fails
        is logged and recorded by its error type; the live request never sees it."""
        s = self.sources
        shadow: ShadowPolicy | None = None
        try:
            shadow = s.policy.shadow() if s.policy is not None and s.shadow_models is not None else None
            if shadow is None or s.shadow_models is None:
                return None
            models = s.shadow_models(shadow.release)
            if models is None or models.learned is None or list(models.learned.models) != shadow.dial.models:
                return ShadowRecord(release=shadow.release.version, error="ShadowModelsUnavailable")
            if shadow.dial.verifier_sha256 and shadow.dial.verifier_sha256 != models.verifier_sha256:
                return ShadowRecord(release=shadow.release.version, error="ShadowVerifierMismatch")
            plan = self._dial_plan(request, catalog, shadow.dial, models.learned.predict(embedding), match,
                                   models.verifier_sha256, self._axes(models, embedding)
                                   ).model_copy(update={"release": shadow.release.version})
            return ShadowRecord(release=shadow.release.version, plan=plan, est_cost_usd=plan.tiers[0].est_cost_usd)
        except Exception as exc:  # noqa: BLE001 - a shadow never affects the live answer
            log.exception("shadow policy failed; the request is unaffected")
            return ShadowRecord(release=shadow.release.version if shadow is not None else "unknown",
                                error=type(exc).__name__)

    def _match(self, embedding: np.ndarray) -> tuple[Match | None, Category | None]:
        """The nearest taxonomy category; nothing when there is no taxonomy or it does not fit the encoder
        (a misconfigured taxonomy must not fail requests: planned without it, loudly)."""
        try:
            categories = self.sources.taxonomy.categories()
            if not categories:
                return None, None
            if self._index is None or self._index[0] != id(categories):
                self._index = (id(categories), CentroidIndex(categories))
            match = self._index[1].nearest(embedding)
            return match, self._index[1].get(match.category)
        except TaxonomyMismatch:
            log.exception("taxonomy does not fit the encoder; planning without it")
            return None, None

    def _pending_classifier(self, request: ChatRequest, dial: Dial, fast: Mapping[str, np.ndarray] | None,
                            plan: Plan) -> ClassifierCall | None:
        """The slow classifier's call this plan would make (see ``refine``), when the dial configures one,
        the fast classifier is unsure, and the budget still fits the plan's first tier after it."""
        if self.sources.slow is None or dial.axes is None or fast is None:
            return None
        call = self.sources.slow.pending(request.prompt, dial.axes, fast)
        if call is None:
            return None
        if request.max_cost_usd is not None and request.max_cost_usd - call.bound_usd < plan.tiers[0].est_cost_usd:
            return None  # the budget is for the answer: no labels bought with it
        return call

    def refine(self, request: ChatRequest, plan: Plan) -> Plan:
        """The plan after its pending slow-classifier call (none: the plan as it is): the labels fused where
        the fast classifier was unsure, the dial's cascade laid out again for them on the budget left."""
        call = plan.classifier
        if call is None or not call.pending or plan.axis_probs is None or self.sources.slow is None:
            return plan
        models = self.sources.models()
        dial = self.dial(models)
        if dial is None or dial.axes is None or plan.fusion is None:
            return plan.model_copy(update={"classifier": None})
        fast = {a: np.asarray(p) for a, p in plan.axis_probs.items()}
        fused, made = self.sources.slow.run(request.prompt, dial.axes, fast, call)
        left = request if request.max_cost_usd is None else request.model_copy(
            update={"max_cost_usd": max(0.0, request.max_cost_usd - made.cost_usd)})
        embedding = self.encoder.embed_one(routing_text(request.prompt))
        match, _ = self._match(embedding)
        router_p = dict(zip(plan.fusion.models, plan.fusion.router_p, strict=True))
        try:
            again = self._dial_plan(left, self.sources.catalog.models(), dial, router_p, match,
                                    plan.fusion.verifier_sha256, fused)
        except (BudgetTooSmall, NoToolModel):
            again = plan  # its first tier fits what is left (checked before the call)
        return again.model_copy(update={"classifier": made, "release": plan.release, "shadow": plan.shadow,
                                        "axis_probs": plan.axis_probs, "judge_region": plan.judge_region})

    @staticmethod
    def _axes(models: ReleaseModels, embedding: np.ndarray) -> Mapping[str, np.ndarray] | None:
        """The fast classifier's distribution per axis, when the release has one."""
        return models.axes.predict(embedding) if models.axes is not None else None

    def _dial_plan(self, request: ChatRequest, catalog: Mapping[str, ModelEntry], dial: Dial,
                   router_p: Mapping[str, float], match: Match | None, verifier_sha256: str | None,
                   axis_probs: Mapping[str, np.ndarray] | None = None) -> Plan:
        try:
            point = dial.select(profile=request.profile, quality=request.quality, max_cost_usd=request.max_cost_usd)
        except KeyError as exc:
            raise UnknownProfile(str(exc.args[0])) from None
        profile = request.profile
        if profile is None and request.quality is None and request.max_cost_usd is None:
            profile = DEFAULT_PROFILE if DEFAULT_PROFILE in dial.profiles else None
        return build_dial_plan(request=request, catalog=catalog, dial=dial, point=point, router_p=router_p,
                               match=match, profile=profile, verifier_sha256=verifier_sha256, axis_probs=axis_probs)
