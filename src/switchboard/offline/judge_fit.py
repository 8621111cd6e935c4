"""Fit the judge policy from verdicts ``switchboard collect`` recorded: calibration, regions, the judge set,
skips and bar (``offline.judge_report`` measures it on held-out prompts).

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
  ``decision.aggregate_confidence``, ``cascade.quorum_met`` and ``decision.decide`` decide. Latency and cost
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
from typing import Any

import numpy as np

from switchboard.domain.catalog import ModelEntry
from switchboard.domain.decision import aggregate_confidence
from switchboard.domain.judging import JUDGE_ROLES, Calibration, JudgePolicy, JudgeRegion, JudgeRole
from switchboard.domain.state import Verdict
from switchboard.offline.judge_data import Collected, JudgeDataError, stated
from switchboard.offline.judge_replay import plan_for_tiers, replay
from switchboard.offline.judge_stats import auroc, rounded, separates

BARS = tuple(round(float(b), 2) for b in np.arange(0.05, 0.96, 0.05))
ACCURACY_SLACK = 0.01
SLACK_STANDARD_ERRORS = 1.0
CV_FOLDS = 3  # judge sets are compared on their cross-validated accuracy (``_cross_validated``)
# A calibration is kept - and the model's answers can be verified - only where the judges' combined score
# separates right answers from wrong ones on the training prompts: judges no better than a coin are not
# "judges whose accuracy we know" in any sense a caller cares about, whatever their isotonic fit says.
MIN_JUDGE_AUROC = 0.6
MIN_CALIBRATION_ROWS = 20
# A category becomes a region of its own with this many training prompts; a prompt is inside a region when
# it is at least as similar to the centroid as all but this percentage of the region's own training prompts.
MIN_REGION_PROMPTS = 30
REGION_PERCENTILE = 5.0
# With calibrated judges the bar is a calibrated P(correct), and "verified" means at least this.
MIN_VERIFIED_BAR = 0.5
# The numbers of self-verification samples k a region's fit chooses among (AutoMix samples k and scores the
# share of CORRECT): more samples separate better and cost a model call each.
SAMPLE_CHOICES = (1, 3, 5)
DEFAULT_SAMPLES = 3

def _isotonic(x: np.ndarray, y: np.ndarray) -> Calibration | None:
    from switchboard.offline.oof_scoring import isotonic

    calibration = isotonic(x, y, knots=24)
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
                row = data.verdict_row(p, spec.model, judge.name, judge.samples)
                score = None if row is None else stated(row["score"])
                if score is not None:
                    verdicts.append(Verdict(judge=judge.name, kind=judge.kind, score=score))
            raw = aggregate_confidence(verdicts)
            if raw is not None:
                xs.append(raw)
                ys.append(data.correct[(p, spec.model)])
        separation[spec.model] = rounded(auroc(xs, ys)) if len(xs) >= MIN_CALIBRATION_ROWS else None
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
    calibration, separation = _calibrate(data, prompts, plan_for_tiers(data, data.models, uncalibrated, catalog))
    return JudgePolicy(judges=list(judges), self_verify_samples=samples, calibration=calibration if calibrate else {},
                       measured={"train_auroc": separation, "train_prompts": len(prompts)})


def judge_sets(available: Sequence[JudgeRole]) -> list[tuple[JudgeRole, ...]]:
    return [s for k in (1, 2) for s in itertools.combinations(available, k)]


def judge_options(available: Sequence[JudgeRole], samples_recorded: int) -> list[tuple[tuple[JudgeRole, ...], int]]:
    """Every judge set of one or two roles, with - for a set that self-verifies - each number of samples k
    of ``SAMPLE_CHOICES`` the collection recorded enough samples for (k is fitted, per region, like the
    set; collected without samples one by one: the default k)."""
    ks = [k for k in SAMPLE_CHOICES if k <= samples_recorded] or [DEFAULT_SAMPLES]
    return [(roles, k) for roles in judge_sets(available) for k in (ks if "self_verify" in roles else [DEFAULT_SAMPLES])]


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


def _cross_validated(data: Collected, prompts: Sequence[str], roles: Sequence[JudgeRole], samples: int,
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
        policy, _ = _choose_tiers(data, fit, fit_policy(data, fit, roles, catalog, samples, calibrate), catalog)
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
    for roles, samples in judge_options(available, data.samples_recorded):
        policy, options = _choose_tiers(data, prompts, fit_policy(data, prompts, roles, catalog, samples, calibrate),
                                        catalog)
        chosen = replay(data, prompts, data.models, policy, catalog)
        cv = _cross_validated(data, prompts, roles, samples, catalog, calibrate)
        tried.append({"judges": list(roles), "self_verify_samples": samples if "self_verify" in roles else None,
                      "tiers": chosen["tiers"], "bar": chosen["bar"],
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
            "measured": own.measured, "self_verify_samples": own.self_verify_samples,
            # the worked examples its self-verifications were shown when collected: the region's category's
            "examples": data.examples.get(region.name, [])}))
    # outside every region: a prompt unlike those measured is judged uncalibrated; with fewer than
    # MIN_REGION_PROMPTS training prompts out there, the judges, skips and bar for it are chosen on all
    # training prompts judged that way
    outside = inside.get(None) or []
    if len(outside) < MIN_REGION_PROMPTS:
        outside = list(train)  # too few to choose on: all of them, judged as an unmeasured prompt is
    scope = "outside" if regions else "all"
    rest, tried[scope] = _choose_judges(data, outside, catalog, calibrate=not regions)
    # without regions the policy applies everywhere as measured: with the examples of the category most of
    # its prompts had (with regions, a prompt outside them is shown the deployment's shipped set)
    common = max(set(data.categories.get(p, "") for p in train), key=lambda c: sum(
        1 for p in train if data.categories.get(p, "") == c), default="")
    examples = [] if regions else data.examples.get(common, [])
    return rest.model_copy(update={"regions": fitted, "examples": examples}), tried
