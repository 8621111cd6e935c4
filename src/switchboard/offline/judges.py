"""Measure and calibrate the production judges from verdicts ``switchboard collect`` recorded.

``collect`` records, for every (prompt, model) answer, what each judge role said about it:
``self_verify`` and ``logprob`` by the answering model, ``llm_judge`` and ``logprob_other`` by an independent
model. Here, on prompts split by ``prompt_id``:

- each role's AUROC (how well its score separates right answers from wrong ones), abstention rate,
  latency and cost, on the held-out prompts;
- a ``JudgePolicy`` fitted on the training prompts only: which roles judge a tier (every set of one or
  two roles is tried), an isotonic calibration per answering model of their combined score (the mean the
  request path's ``aggregate_confidence`` takes) to P(correct), and the bar;
- the accuracy-latency-cost curve the policy gives as a cascade, replayed on the held-out prompts with
  the request path's own code: ``planner.build_plan`` lays out the tiers and their judges,
  ``policy.aggregate_confidence``, ``cascade.quorum_met`` and ``policy.decide`` decide. Latency and cost
  are the sums of the recorded calls the cascade makes (models here run one call at a time).

The choice rule (documented, not tuned by hand): the judge set, bar and tiers - the cascade through every
model, or straight to the model most accurate alone with the others skipped (``JudgePolicy.skip``) - with
the highest training accuracy, then the lowest training latency among those within one standard error of
the paired per-prompt difference of it (at least ``ACCURACY_SLACK``). A model's
calibration is kept only when the judges' combined score reaches an AUROC of ``MIN_JUDGE_AUROC`` on the
training prompts, two standard errors clear of chance (``separates``), and with any calibration the bar is at least ``MIN_VERIFIED_BAR``: an answer is never
called verified on judges that cannot tell right from wrong, or at a P(correct) below one half. When no
judge set passes, the policy has no calibration: its judges only decide escalation, and nothing is verified.

Regions: a judge's separation depends on the prompts (the local 1.5B's confidence separates its right
and wrong answers on ARC science questions, AUROC 0.77, and is inverted on Winogrande, 0.39), so a
calibration pooled over unlike prompts both hides the signal and lends it where it is absent. Given the
prompts' routing embeddings (``measure(..., embed=)``), every category with at least ``MIN_REGION_PROMPTS``
training prompts becomes a ``JudgeRegion`` (its centroid and the ``REGION_PERCENTILE``-th percentile of its
prompts' similarity to it); each training prompt is placed with ``JudgePolicy.locate``, the function the
request path calls; and the judge set, calibration, skips and bar are chosen per region, by the rule
above, on the training prompts placed in it. Prompts outside every region get judges uncalibrated (never
verified), chosen the same way on the training prompts outside (or on all of them, judged uncalibrated,
when none is outside).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from switchboard.domain.cascade import TierOutcome, run
from switchboard.domain.catalog import ModelEntry
from switchboard.domain.judging import JUDGE_ROLES, Calibration, JudgePolicy, JudgeRegion, JudgeRole
from switchboard.domain.planner import PlannerConfig, build_plan
from switchboard.domain.policy import aggregate_confidence
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import Candidate, CascadeState, Plan, Verdict
from switchboard.domain.taxonomy import Category, Match

BARS = tuple(round(float(b), 2) for b in np.arange(0.05, 0.96, 0.05))
ACCURACY_SLACK = 0.01
SLACK_STANDARD_ERRORS = 1.0
CV_FOLDS = 3  # judge sets are compared on their cross-validated accuracy (``_cross_validated``)
# A calibration is kept - and the model's answers can be verified - only where the judges' combined score
# separates right answers from wrong ones on the training prompts: judges no better than a coin are not
# "judges whose accuracy we know" in any sense a caller cares about, whatever their isotonic fit says.
MIN_JUDGE_AUROC = 0.6
MIN_CALIBRATION_ROWS = 20
SEPARATION_STANDARD_ERRORS = 2.0  # ``separates``: the AUROC's lower bound must clear one half
# A category becomes a region of its own with this many training prompts; a prompt is inside a region when
# it is at least as similar to the centroid as all but this percentage of the region's own training prompts.
MIN_REGION_PROMPTS = 30
REGION_PERCENTILE = 5.0
# With calibrated judges the bar is a calibrated P(correct), and "verified" means at least this.
MIN_VERIFIED_BAR = 0.5


class JudgeDataError(ValueError):
    """The collected files cannot be used (the message says why)."""


def role_of(kind: str, role: str) -> str:
    if kind == "logprob":
        return "logprob" if role == "self" else "logprob_other"
    return kind


@dataclass
class Collected:
    """Collected answers and verdicts, indexed for replay."""

    models: list[str]  # cheapest first
    prompt_ids: list[str]
    correct: dict[tuple[str, str], float]  # (prompt, model) -> 0/1
    answer: dict[tuple[str, str], dict[str, Any]]  # (prompt, model) -> latency_ms, cost_usd, text
    verdicts: dict[tuple[str, str, str], dict[str, Any]]  # (prompt, model, judge name) -> row
    texts: dict[str, str] = field(default_factory=dict)  # prompt -> its text
    categories: dict[str, str] = field(default_factory=dict)  # prompt -> its category ("" if none)
    # prompt -> the judge region ``JudgePolicy.locate`` placed it in (``place``); empty: no regions
    region: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def read(cls, directory: str | Path, catalog: dict[str, ModelEntry] | None = None) -> Collected:
        import pandas as pd

        directory = Path(directory)
        try:
            outcomes = pd.read_parquet(directory / "outcomes.parquet")
            judges = pd.read_parquet(directory / "judges.parquet")
        except (OSError, ValueError) as exc:
            raise JudgeDataError(f"{directory}: no collected outcomes and verdicts (switchboard collect "
                                 f"writes outcomes.parquet and judges.parquet): {exc}") from exc
        if judges.empty:
            raise JudgeDataError(f"{directory}/judges.parquet has no verdicts (collect ran with --judges '')")
        cost = outcomes.groupby("model")["cost_usd"].mean().to_dict()
        if catalog:
            def price(m: str) -> float:
                return catalog[m].price.cost(1000, 250) if m in catalog else cost[m]
        else:
            def price(m: str) -> float:
                return cost[m]
        models = sorted(cost, key=lambda m: (price(m), m))
        complete = outcomes.groupby("prompt_id")["model"].nunique()
        prompt_ids = sorted(complete[complete == len(models)].index)
        correct, answer, texts, categories = {}, {}, {}, {}
        for row in outcomes.to_dict("records"):
            key = (row["prompt_id"], row["model"])
            correct[key] = float(row["correct"])
            answer[key] = {"latency_ms": float(row.get("latency_ms") or 0.0),
                           "cost_usd": float(row.get("cost_usd") or 0.0), "text": str(row["response"])}
            texts[row["prompt_id"]] = str(row.get("prompt") or "")
            categories[row["prompt_id"]] = str(row.get("category") or "")
        verdicts = {(r["prompt_id"], r["model"], r["judge"]): r for r in judges.to_dict("records")}
        return cls(models=models, prompt_ids=prompt_ids, correct=correct, answer=answer, verdicts=verdicts,
                   texts=texts, categories=categories)

    def role_rows(self, prompts: Sequence[str], role: str) -> list[dict[str, Any]]:
        """The verdicts of one role on every model's answer to ``prompts``."""
        rows = []
        for p in prompts:
            for m in self.models:
                for name in self._names(m, role):
                    found = self.verdicts.get((p, m, name))
                    if found is not None:
                        rows.append({**found, "correct": self.correct[(p, m)]})
        return rows

    def _names(self, model: str, role: str) -> list[str]:
        others = [m for m in self.models if m != model]
        if role == "self_verify":
            return [f"self_verify:{model}"]
        if role == "logprob":
            return [f"logprob:{model}"]
        if role == "confidence":
            return [f"confidence:{model}"]
        if role == "llm_judge":
            return [f"llm_judge:{o}" for o in others]
        return [f"logprob:{o}" for o in others]


def auroc(scores: Sequence[float], labels: Sequence[float]) -> float | None:
    """Area under the ROC curve (ties count half); None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    if len(set(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def auroc_standard_error(area: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil's (1982) standard error of an AUROC estimated from ``positives`` and ``negatives``."""
    q1, q2 = area / (2 - area), 2 * area * area / (1 + area)
    variance = (area * (1 - area) + (positives - 1) * (q1 - area * area)
                + (negatives - 1) * (q2 - area * area)) / max(1, positives * negatives)
    return math.sqrt(max(0.0, variance))


def separates(scores: Sequence[float], labels: Sequence[float]) -> bool:
    """Whether ``scores`` separate right (1) from wrong (0) beyond chance: an AUROC whose lower bound, two
    Hanley-McNeil standard errors down, is above one half. With some fifteen judge sets tried per region,
    an AUROC of 0.6 on 75 prompts is what the luckiest of them shows by chance; this keeps it from
    calibrating - and so from verifying answers."""
    area = auroc(scores, labels)
    if area is None:
        return False
    positives = int(sum(1 for y in labels if y >= 0.5))
    return area - SEPARATION_STANDARD_ERRORS * auroc_standard_error(area, positives, len(labels) - positives) > 0.5


def role_table(data: Collected, prompts: Sequence[str]) -> list[dict[str, Any]]:
    """Each judge role on ``prompts``: AUROC over stated scores, abstentions, latency, cost."""
    table = []
    for role in JUDGE_ROLES:
        rows = data.role_rows(prompts, role)
        if not rows:
            continue
        stated = [r for r in rows if r["score"] is not None and not (isinstance(r["score"], float)
                                                                      and math.isnan(r["score"]))]
        entry: dict[str, Any] = {
            "role": role, "verdicts": len(rows),
            "abstained": round(1 - len(stated) / len(rows), 4),
            "auroc": _round(auroc([r["score"] for r in stated], [r["correct"] for r in stated])),
            "mean_latency_ms": round(float(np.mean([r["latency_ms"] for r in rows])), 1),
            "p50_latency_ms": round(float(np.median([r["latency_ms"] for r in rows])), 1),
            "mean_cost_usd": float(np.mean([r["cost_usd"] for r in rows])),
            "per_model_auroc": {}}
        for m in data.models:
            mine = [r for r in stated if r["model"] == m]
            entry["per_model_auroc"][m] = _round(auroc([r["score"] for r in mine], [r["correct"] for r in mine]))
        table.append(entry)
    return table


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# ---------------------------------------------------------------------------------------------- replay


def _catalog(data: Collected, catalog: dict[str, ModelEntry] | None) -> dict[str, ModelEntry]:
    if catalog:
        return {m: catalog[m] for m in data.models if m in catalog}
    from switchboard.domain.catalog import ModelPrice

    return {m: ModelEntry(model_id=m, provider="replay", provider_model=m,
                          price=ModelPrice(input_usd_per_mtok=float(i + 1), output_usd_per_mtok=float(i + 1)))
            for i, m in enumerate(data.models)}


def _plan(data: Collected, tiers: Sequence[str], policy: JudgePolicy, catalog: dict[str, ModelEntry]):  # noqa: ANN202
    """The plan the request path builds for a prompt whose category lists ``tiers`` (a taxonomy match)."""
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
        state = run(CascadeState(request_id=p, request=request, plan=plan_for(p)), partial(_recorded_tier, data, p))
        decision = state.decision
        chosen = state.attempts[decision.answer_tier].model if decision and decision.answer_tier is not None else None
        if decision is not None and decision.verified and chosen is not None:
            verified += 1
            verified_right.append(data.correct[(p, chosen)])
        escalated += int(len(state.attempts) > 1)
        if chosen is not None:
            answered_by[chosen] = answered_by.get(chosen, 0) + 1
        correct.append(data.correct[(p, chosen)] if chosen else 0.0)
        latency.append(sum((a.candidate.latency_ms if a.candidate else 0.0) + sum(v.latency_ms for v in a.verdicts)
                           for a in state.attempts))
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


def _recorded_tier(data: Collected, prompt: str, state: CascadeState) -> TierOutcome:
    """The current tier of ``state`` as ``collect`` recorded it: the model's answer and what each of the
    plan's judges said of it (a judge not collected is a failed one, counting against the quorum)."""
    spec = state.plan.tiers[state.tier]
    own = data.answer[(prompt, spec.model)]
    verdicts = []
    for judge in spec.judges:
        row = data.verdicts.get((prompt, spec.model, judge.name))
        if row is None:
            verdicts.append(Verdict(judge=judge.name, kind=judge.kind, score=None, failed=True, detail="not collected"))
            continue
        score = row["score"]
        score = None if score is None or (isinstance(score, float) and math.isnan(score)) else score
        verdicts.append(Verdict(judge=judge.name, kind=judge.kind, score=score, failed=bool(row["failed"]),
                                cost_usd=float(row["cost_usd"]), latency_ms=float(row["latency_ms"])))
    candidate = Candidate(model=spec.model, text=own["text"], cost_usd=own["cost_usd"], latency_ms=own["latency_ms"])
    return TierOutcome(candidate=candidate, verdicts=verdicts)


def single_model(data: Collected, prompts: Sequence[str], model: str) -> dict[str, Any]:
    rows = [data.answer[(p, model)] for p in prompts]
    return {"model": model, "prompts": len(prompts),
            "accuracy": round(float(np.mean([data.correct[(p, model)] for p in prompts])), 4),
            "mean_latency_ms": round(float(np.mean([r["latency_ms"] for r in rows])), 1),
            "p50_latency_ms": round(float(np.median([r["latency_ms"] for r in rows])), 1),
            "mean_cost_usd": float(np.mean([r["cost_usd"] for r in rows]))}


# ---------------------------------------------------------------------------------------------- fit


def _isotonic(x: np.ndarray, y: np.ndarray) -> Calibration | None:
    from switchboard.offline.fit import _isotonic as fit_isotonic

    calibration = fit_isotonic(x, y, knots=24)
    return calibration if calibration.xs else None


def _calibrate(data: Collected, prompts: Sequence[str], plan: Any) -> tuple[dict[str, Calibration],
                                                                           dict[str, float | None]]:
    """Per tier of ``plan``: the AUROC of its judges' combined score on ``prompts`` and, where that reaches
    ``MIN_JUDGE_AUROC``, the isotonic map of that score to P(correct)."""
    calibration: dict[str, Calibration] = {}
    separation: dict[str, float | None] = {}
    for spec in plan.tiers:
        xs, ys = [], []
        for p in prompts:
            verdicts = []
            for judge in spec.judges:
                row = data.verdicts.get((p, spec.model, judge.name))
                score = None if row is None else row["score"]
                if score is not None and not (isinstance(score, float) and math.isnan(score)):
                    verdicts.append(Verdict(judge=judge.name, kind=judge.kind, score=score))
            raw = aggregate_confidence(verdicts)
            if raw is not None:
                xs.append(raw)
                ys.append(data.correct[(p, spec.model)])
        separation[spec.model] = _round(auroc(xs, ys)) if len(xs) >= MIN_CALIBRATION_ROWS else None
        if (separation[spec.model] or 0.0) < MIN_JUDGE_AUROC or not separates(xs, ys):
            continue  # these judges cannot tell this model's right answers from its wrong ones
        fitted = _isotonic(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        if fitted is not None:
            calibration[spec.model] = fitted
    return calibration, separation


def fit_regions(data: Collected, prompts: Sequence[str], embed: Any) -> list[JudgeRegion]:
    """One region per category with at least ``MIN_REGION_PROMPTS`` of ``prompts`` (centroid and inner
    similarity bound, nothing fitted yet) - or, when no category has that many, one region of them all -
    and every collected prompt placed (``data.region``) with ``JudgePolicy.locate``. ``embed(texts) ->
    (n, d)``: unit vectors of the ``routing_text`` of each text."""
    from switchboard.domain.taxonomy import centroid, routing_text

    ids = list(dict.fromkeys(data.prompt_ids))
    vectors = np.asarray(embed([routing_text(data.texts.get(p, "")) for p in ids]), dtype=np.float32)
    by_id = dict(zip(ids, vectors, strict=True))
    train = set(prompts)
    groups: dict[str, list[str]] = {}
    for p in ids:
        if p in train:
            groups.setdefault(data.categories.get(p) or "all", []).append(p)
    if all(len(m) < MIN_REGION_PROMPTS for m in groups.values()):
        # no category is large enough alone: the training prompts together are the one region measured
        groups = {"all": [p for p in ids if p in train]}
    regions = []
    for name, members in sorted(groups.items()):
        if len(members) < MIN_REGION_PROMPTS:
            continue
        centre = centroid(np.stack([by_id[p] for p in members]))
        similarity = np.stack([by_id[p] for p in members]) @ centre
        regions.append(JudgeRegion(name=name, centroid=[round(float(x), 6) for x in centre],
                                   min_similarity=round(float(np.percentile(similarity, REGION_PERCENTILE)), 4)))
    locator = JudgePolicy(judges=["confidence"], regions=regions)
    data.region = {p: locator.locate(by_id[p]) for p in ids} if regions else {}
    return regions


def fit_policy(data: Collected, prompts: Sequence[str], judges: Sequence[JudgeRole],
               catalog: dict[str, ModelEntry] | None = None, samples: int = 3, calibrate: bool = True) -> JudgePolicy:
    """Calibrate the combined score of ``judges`` per answering model on ``prompts`` (uncalibrated models
    are left out: their answers are never verified; ``calibrate=False``: none is calibrated, the
    separation is still measured)."""
    uncalibrated = JudgePolicy(judges=list(judges), self_verify_samples=samples)
    calibration, separation = _calibrate(data, prompts, _plan(data, data.models, uncalibrated, _catalog(data, catalog)))
    return JudgePolicy(judges=list(judges), self_verify_samples=samples, calibration=calibration if calibrate else {},
                       measured={"train_auroc": separation, "train_prompts": len(prompts)})


def judge_sets(available: Sequence[JudgeRole]) -> list[tuple[JudgeRole, ...]]:
    return [s for k in (1, 2) for s in itertools.combinations(available, k)]


def _choose_tiers(data: Collected, prompts: Sequence[str], policy: JudgePolicy,
                  catalog: dict[str, ModelEntry] | None) -> tuple[JudgePolicy, list[dict[str, Any]]]:
    """The skips and bar for ``policy`` (one without regions) with the highest training accuracy on
    ``prompts`` (then the lowest latency): every bar for the cascade, and straight to the model most
    accurate alone on them with the others skipped."""
    strongest = max(data.models, key=lambda m: (np.mean([data.correct[(p, m)] for p in prompts]),
                                                data.models.index(m)))
    skips: list[list[str]] = [[]] + ([[m for m in data.models if m != strongest]] if len(data.models) > 1 else [])
    measured_bar: float | None = None
    options = []
    for skip in skips:  # the cascade first: its best bar is the one measured for these judges
        bars = [b for b in BARS if b >= MIN_VERIFIED_BAR] if policy.calibration else list(BARS)
        if skip and measured_bar is not None:
            # one tier: no bar changes what it returns; the policy keeps the bar the cascade measured,
            # for plans where nothing is skipped (a tier of a model the policy never measured)
            bars = [measured_bar]
        best = max((replay(data, prompts, data.models, policy.model_copy(update={"skip": skip, "threshold": b}),
                           catalog) for b in bars), key=lambda r: (r["accuracy"], -r["mean_latency_ms"]))
        if not skip:
            measured_bar = best["bar"]
        options.append({"skip": skip, **best})
    pick = _most_accurate_then_fastest(options, "accuracy", "mean_latency_ms")
    return policy.model_copy(update={"skip": pick["skip"], "threshold": pick["bar"]}), options


def _most_accurate_then_fastest(rows: list[dict[str, Any]], accuracy: str, latency: str) -> dict[str, Any]:
    """The fastest of the rows as accurate as the most accurate one within the noise of the comparison:
    ``ACCURACY_SLACK``, or one standard error of the paired per-prompt difference (``_correct``) when that
    is larger: the one-standard-error rule of model selection. On 80 prompts one prompt is 1.25 points, and
    the best of some thirty options tried on the same prompts wins by a prompt or two by chance alone; a
    judge set that wins that way at twice the latency has won nothing. (Two standard errors were tried and
    rejected: between options that disagree on many prompts they let an 8-point loss through.)"""
    top = max(rows, key=lambda r: (r[accuracy], -r[latency]))

    def slack(r: dict[str, Any]) -> float:
        a, b = np.asarray(top.get("_correct") or []), np.asarray(r.get("_correct") or [])
        if len(a) < 2 or len(a) != len(b):
            return ACCURACY_SLACK
        return max(ACCURACY_SLACK, SLACK_STANDARD_ERRORS * float(np.std(a - b, ddof=1) / math.sqrt(len(a))))

    return min((r for r in rows if r[accuracy] >= top[accuracy] - slack(r)),
               key=lambda r: (r[latency], -len(r["tiers"]), r.get("judges") or []))


def _fold(prompt_id: str) -> int:
    return int(hashlib.sha256(prompt_id.encode()).hexdigest(), 16) % CV_FOLDS


def _cross_validated(data: Collected, prompts: Sequence[str], roles: Sequence[JudgeRole],
                     catalog: dict[str, ModelEntry] | None, calibrate: bool) -> dict[str, Any]:
    """The whole fit for ``roles`` - calibration, then skips and bar - made on all folds of ``prompts`` but
    one and replayed on that one, for each fold in turn: every prompt scored by a policy that did not see
    it. The bar and the skips are chosen among some forty options on the very prompts they are scored on,
    so training accuracy flatters a judge set by the luck of its best option; this does not."""
    correct: dict[str, float] = {}
    latency: dict[str, float] = {}
    for k in range(CV_FOLDS):
        held = [p for p in prompts if _fold(p) == k]
        fit = [p for p in prompts if _fold(p) != k]
        if not held or not fit:
            continue
        policy, _ = _choose_tiers(data, fit, fit_policy(data, fit, roles, catalog, calibrate=calibrate), catalog)
        result = replay(data, held, data.models, policy, catalog)
        correct.update(zip(held, result["_correct"], strict=True))
        latency.update(zip(held, result["_latency"], strict=True))
    scored = [p for p in prompts if p in correct]
    return {"accuracy": round(float(np.mean([correct[p] for p in scored])), 4) if scored else 0.0,
            "mean_latency_ms": round(float(np.mean([latency[p] for p in scored])), 1) if scored else 0.0,
            "_correct": [correct.get(p, 0.0) for p in prompts]}


def _choose_judges(data: Collected, prompts: Sequence[str], catalog: dict[str, ModelEntry] | None,
                   calibrate: bool) -> tuple[JudgePolicy, list[dict[str, Any]]]:
    """Every judge set of one or two roles with verdicts on ``prompts``, calibrated on them (unless not
    ``calibrate``) and given its best tiers and bar; the most accurate by cross-validation
    (``_cross_validated``), then the fastest within one standard error of it (``_most_accurate_then_fastest``)."""
    available: list[JudgeRole] = [r for r in JUDGE_ROLES if data.role_rows(prompts[:50], r)]
    if not available:
        raise JudgeDataError("no judge role has verdicts on the training prompts")
    tried = []
    for roles in judge_sets(available):
        policy, options = _choose_tiers(data, prompts, fit_policy(data, prompts, roles, catalog, calibrate=calibrate),
                                        catalog)
        chosen = replay(data, prompts, data.models, policy, catalog)
        cv = _cross_validated(data, prompts, roles, catalog, calibrate)
        tried.append({"judges": list(roles), "tiers": chosen["tiers"], "bar": chosen["bar"],
                      "train_accuracy": chosen["accuracy"], "train_mean_latency_ms": chosen["mean_latency_ms"],
                      "cv_accuracy": cv["accuracy"], "cv_mean_latency_ms": cv["mean_latency_ms"],
                      "calibrated_for": sorted(policy.calibration), "train_auroc": policy.measured["train_auroc"],
                      "options": [{"tiers": o["tiers"], "bar": o["bar"], "train_accuracy": o["accuracy"],
                                   "train_mean_latency_ms": o["mean_latency_ms"]} for o in options],
                      "policy": policy, "_correct": cv["_correct"]})
    pick = _most_accurate_then_fastest(tried, "cv_accuracy", "cv_mean_latency_ms")
    return pick["policy"], [{k: v for k, v in t.items() if k != "policy" and not k.startswith("_")} for t in tried]


def choose_policy(data: Collected, train: Sequence[str], catalog: dict[str, ModelEntry] | None = None,
                  regions: Sequence[JudgeRegion] = ()) -> tuple[JudgePolicy, dict[str, list[dict[str, Any]]]]:
    """The judge policy fitted on ``train`` (see module): within each region, on the training prompts placed
    in it, its own judge set, calibration, skips and bar; for prompts outside every region (all of them
    when there are no regions), the same choice with the judges uncalibrated when there are regions.
    Returns the policy and, per scope, every judge set tried."""
    inside: dict[str | None, list[str]] = {}
    for p in train:
        inside.setdefault(data.region.get(p) if regions else None, []).append(p)
    tried: dict[str, list[dict[str, Any]]] = {}
    fitted = []
    for region in regions:
        prompts = inside.get(region.name, [])
        if not prompts:
            continue
        own, tried[region.name] = _choose_judges(data, prompts, catalog, calibrate=True)
        fitted.append(region.model_copy(update={
            "judges": own.judges, "calibration": own.calibration, "threshold": own.threshold, "skip": own.skip,
            "measured": own.measured}))
    # outside every region: a prompt unlike those measured is judged uncalibrated; with fewer than
    # MIN_REGION_PROMPTS training prompts out there, the judges, skips and bar for it are chosen on all
    # training prompts judged that way
    outside = inside.get(None) or []
    if len(outside) < MIN_REGION_PROMPTS:
        outside = list(train)  # too few to choose on: all of them, judged as an unmeasured prompt is
    scope = "outside" if regions else "all"
    rest, tried[scope] = _choose_judges(data, outside, catalog, calibrate=not regions)
    return rest.model_copy(update={"regions": fitted}), tried


def measure(data: Collected, train: Sequence[str], test: Sequence[str],
            catalog: dict[str, ModelEntry] | None = None, embed: Any = None) -> tuple[JudgePolicy, dict[str, Any]]:
    """Fit the policy on ``train``; report roles, single models and the cascade curve on ``test`` - in all,
    and per region when ``embed`` (texts -> unit routing embeddings) lets the prompts be placed."""
    regions = fit_regions(data, train, embed) if embed is not None else []
    policy, tried = choose_policy(data, train, catalog, regions=regions)
    scopes: dict[str, list[str]] = {}
    for p in test:
        scopes.setdefault(data.region.get(p) or "outside" if regions else "all", []).append(p)
    report: dict[str, Any] = {
        "models": data.models, "train_prompts": len(train), "test_prompts": len(test),
        "choice": {"judges": policy.judges, "bar": policy.threshold,
                   "tiers": [m for m in data.models if m not in policy.skip], "skip": policy.skip,
                   "regions": {r.name: {"judges": r.judges, "bar": r.threshold, "skip": r.skip,
                                        "calibrated_for": sorted(r.calibration), "min_similarity": r.min_similarity,
                                        **r.measured} for r in policy.regions},
                   "rule": f"per region of prompts (and outside them): highest training accuracy (every judge "
                           f"set of one or two roles, bar, and the cascade or the most accurate model alone), then "
                           f"lowest training latency within one standard error of the paired difference (at least "
                           f"{ACCURACY_SLACK}) of it"},
        "judge_sets_tried": tried,
        "roles": role_table(data, test),
        "single_models": [single_model(data, test, m) for m in data.models],
        "cascade": replay(data, test, data.models, policy, catalog),
        "curve": [replay(data, test, data.models, policy, catalog, bar=b) for b in BARS],
        "regions": {name: {"prompts": len(ps), "roles": role_table(data, ps),
                           "single_models": [single_model(data, ps, m) for m in data.models],
                           "cascade": replay(data, ps, data.models, policy, catalog)}
                    for name, ps in sorted(scopes.items())} if regions else {},
    }
    policy = policy.model_copy(update={"measured": {
        **policy.measured, "test_prompts": len(test), "cascade_accuracy": report["cascade"]["accuracy"],
        "cascade_mean_latency_ms": report["cascade"]["mean_latency_ms"],
        "roles_auroc": {r["role"]: r["auroc"] for r in report["roles"]}}})
    return policy, _public(report)


def _public(value: Any) -> Any:
    """``value`` without the private per-prompt keys (``_correct``) the choice used."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def judges_plot(report: dict[str, Any], path: str | Path) -> Path:
    """Accuracy against mean latency: each model alone, the cascade at every bar, the chosen bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=100)
    curve = report["curve"]
    ax.plot([c["mean_latency_ms"] / 1000 for c in curve], [c["accuracy"] for c in curve], "-o", color="#d62728",
            markersize=4, label=f"cascade {' -> '.join(report['models'])}, judges {'+'.join(report['choice']['judges'])}")
    for c in curve[:: max(1, len(curve) // 6)]:
        ax.annotate(f"bar {c['bar']:.2f}", (c["mean_latency_ms"] / 1000, c["accuracy"]), fontsize=7,
                    xytext=(4, -9), textcoords="offset points")
    chosen = report["cascade"]
    bars = chosen["bar"] if isinstance(chosen["bar"], list) else [chosen["bar"]]
    ax.plot([chosen["mean_latency_ms"] / 1000], [chosen["accuracy"]], "P", color="#7f0000", markersize=12,
            label="chosen bar " + ", ".join(f"{b:.2f}" for b in bars) + (" (per region)" if len(bars) > 1 else ""))
    for s in report["single_models"]:
        ax.plot([s["mean_latency_ms"] / 1000], [s["accuracy"]], "o", color="#555555", markersize=8)
        ax.annotate(s["model"], (s["mean_latency_ms"] / 1000, s["accuracy"]), fontsize=8, xytext=(5, 4),
                    textcoords="offset points")
    ax.set_xlabel("mean latency per prompt (s, this machine, calls in sequence)")
    ax.set_ylabel(f"accuracy on {report['test_prompts']} held-out prompts")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
