"""What the judges of a cascade are and what their scores mean: judge kinds and roles, their
calibration, and the measured judge policy (``switchboard train`` fits it; the planner applies it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from .catalog import ModelEntry

JudgeKind = Literal["llm_judge", "self_verify", "logprob", "confidence", "agreement", "verifier"]


class Calibration(BaseModel):
    """Monotone map from a raw aggregated score to P(correct), as fitted by ``switchboard train``.

    Stored as the knots of a piecewise-linear function (isotonic regression output); the identity when
    no knots are given.
    """

    xs: list[float] = Field(default_factory=list)
    ys: list[float] = Field(default_factory=list)

    def apply(self, score: float) -> float:
        if not self.xs:
            return score
        xs, ys = self.xs, self.ys
        if score <= xs[0]:
            return ys[0]
        if score >= xs[-1]:
            return ys[-1]
        for i in range(1, len(xs)):
            if score <= xs[i]:
                x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
                if x1 == x0:
                    return y1
                return y0 + (y1 - y0) * (score - x0) / (x1 - x0)
        return ys[-1]  # pragma: no cover - loop always returns


# Judge roles of a ``JudgePolicy``, relative to the answering model: the model itself, or an independent one.
JudgeRole = Literal["self_verify", "logprob", "confidence", "llm_judge", "logprob_other"]
# Every judge role, in the order reports list them: the one list (``collect`` records each, ``train``
# measures each, the planner maps each to a ``JudgeSpec``).
JUDGE_ROLES: tuple[JudgeRole, ...] = get_args(JudgeRole)


class WorkedExample(BaseModel):
    """A graded answer shown to a self-verifying model before the answer it grades (AutoMix's few-shot
    self-verification): another question of the same kind, an answer to it, and whether that answer was
    right. Fields longer than a judge prompt shows are clipped (``domain.verdicts``)."""

    question: str = Field(min_length=1)
    answer: str
    correct: bool


class JudgeRegion(BaseModel):
    """The prompts one part of a judge measurement was made on, and what was measured there.

    A judge's accuracy is a property of the prompts it was measured on: the answering model's confidence
    separates its right answers from its wrong ones on science questions (AUROC 0.77 for the local 1.5B)
    and not at all on pronoun puzzles (0.39). A region is the mean routing embedding (``centroid``) of one
    category of the collected prompts and the least cosine similarity (``min_similarity``) at which a
    prompt still counts as one of them (a low percentile of its own training prompts); within it the
    region's judges, calibration, bar and skipped models apply (``JudgePolicy.scoped``).
    """

    name: str = Field(min_length=1)
    centroid: list[float] = Field(min_length=1)
    min_similarity: float = Field(ge=-1.0, le=1.0)
    judges: list[JudgeRole] = Field(default_factory=list)  # empty: the policy's judges
    calibration: dict[str, Calibration] = Field(default_factory=dict)
    threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    skip: list[str] = Field(default_factory=list)
    measured: dict[str, Any] = Field(default_factory=dict)
    # Self-verification here: its worked examples (prompts of this region; none: the policy's), and how many
    # samples it takes (None: the policy's), both as measured
    examples: list[WorkedExample] = Field(default_factory=list)
    self_verify_samples: int | None = Field(default=None, ge=1, le=16)


# ``JudgePolicy.locate``'s centroid index per ``regions`` list (kept with the list, so an id is never reused
# while cached): built once per loaded policy, not per request; outside the model so equality ignores it
_REGION_INDEXES: dict[int, tuple[list[JudgeRegion], Any]] = {}


class JudgePolicy(BaseModel):
    """Which judges check a tier's answer and what their score means, as measured: fitted by
    ``switchboard train`` from verdicts that ``switchboard collect`` recorded on labelled prompts.

    ``calibration`` maps the judges' combined score (``aggregate_confidence``'s mean) to P(correct), per
    answering model (``"*"``: pooled over the measured models). A tier whose model has no calibration
    here is judged by these judges uncalibrated, and so never returns a verified answer.

    With ``regions`` the measurement is local: a prompt inside a region (``locate``) is judged with that
    region's calibration, bar and skips; a prompt outside every region is like none the judges were
    measured on, so its answers are judged uncalibrated and never verified (``scoped``).
    """

    judges: list[JudgeRole] = Field(min_length=1)
    self_verify_samples: int = Field(default=3, ge=1, le=16)
    calibration: dict[str, Calibration] = Field(default_factory=dict)
    threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    # Models not worth a tier of their own under these judges: on the training prompts the cascade through
    # them was no more accurate than going straight to a stronger model, and slower. The planner drops them
    # from a plan that has such a model (measured, not skipped); a caller can still pin them.
    skip: list[str] = Field(default_factory=list)
    measured: dict[str, Any] = Field(default_factory=dict)
    regions: list[JudgeRegion] = Field(default_factory=list)
    # Self-verification's worked examples (none: the deployment's shipped set)
    examples: list[WorkedExample] = Field(default_factory=list)

    def calibration_for(self, model: str) -> Calibration | None:
        return self.calibration.get(model) or self.calibration.get("*")

    def locate(self, embedding: Any) -> str | None:
        """The region a prompt's routing embedding falls in: the nearest centroid (the taxonomy's
        ``CentroidIndex``), if the prompt is at least that region's ``min_similarity`` to it; None when
        there are no regions, it is in none, or the embedding is another encoder's."""
        if not self.regions:
            return None
        import numpy as np

        from .taxonomy import CentroidIndex, TaxonomyMismatch

        cached = _REGION_INDEXES.get(id(self.regions))
        if cached is None or cached[0] is not self.regions:
            if len(_REGION_INDEXES) >= 8:
                _REGION_INDEXES.clear()
            cached = _REGION_INDEXES[id(self.regions)] = (self.regions, CentroidIndex(self.regions))
        index: CentroidIndex[JudgeRegion] = cached[1]
        vector = np.asarray(embedding, dtype=np.float32).ravel()
        norm = float(np.linalg.norm(vector))
        try:
            match = index.nearest(vector / norm if norm > 0 else vector)
        except TaxonomyMismatch:
            return None  # measured with another encoder: the prompt is like none of its prompts
        return match.category if match.similarity >= index.get(match.category).min_similarity else None

    def scoped(self, region: str | None) -> JudgePolicy:
        """The policy as it applies to a prompt located in ``region`` (``locate``): that region's judges,
        calibration, bar, skips and measured separation; outside every region, no calibration (the
        judges still decide escalation, as measured over all prompts, but verify nothing). A policy
        without regions applies everywhere as it is."""
        if not self.regions:
            return self
        for r in self.regions:
            if r.name == region:
                return self.model_copy(update={
                    "judges": list(r.judges or self.judges), "calibration": dict(r.calibration),
                    "threshold": r.threshold, "skip": list(r.skip),
                    "measured": {**self.measured, **r.measured}, "regions": [],
                    "examples": list(r.examples or self.examples),
                    "self_verify_samples": r.self_verify_samples or self.self_verify_samples})
        return self.model_copy(update={"calibration": {}, "regions": []})

    def covers(self, model: str) -> bool:
        """Whether these judges and this bar were measured on ``model``'s answers: calibrated for it, or
        measured and found unable to verify it (then they still decide its escalation, as measured)."""
        return self.calibration_for(model) is not None or model in (self.measured.get("train_auroc") or {})


class JudgeSpec(BaseModel):
    """A judge to run on a tier's candidate. ``model`` is None for judges that need no model.

    Self-verification takes ``samples`` samples (AutoMix's k) with ``examples`` shown first. It is fanned
    out into one judge task a sample (``fan_out``: ``sample`` is the sample's number), which the state
    machine's judges Map runs side by side; the decide step folds the samples' verdicts back into the one
    verdict of this judge (``domain.cascade``)."""

    kind: JudgeKind
    model: str | None = None
    samples: int = Field(default=1, ge=1, le=16)
    weight: float = Field(default=1.0, gt=0.0)
    examples: list[WorkedExample] = Field(default_factory=list)
    sample: int | None = Field(default=None, ge=0)

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.model}" if self.model else self.kind


def fan_out(judges: Sequence[JudgeSpec]) -> list[JudgeSpec]:
    """The judge tasks of a tier: each self-verification of k samples as k tasks of one sample each."""
    out: list[JudgeSpec] = []
    for judge in judges:
        if judge.kind == "self_verify" and judge.sample is None:
            out.extend(judge.model_copy(update={"samples": 1, "sample": i}) for i in range(judge.samples))
        else:
            out.append(judge)
    return out


def independent_judge(model: str, tiers: Sequence[str], catalog: Mapping[str, ModelEntry]) -> str:
    """The model that grades ``model``'s answer for the roles that need another model (``llm_judge``,
    ``logprob_other``): the next stronger tier of the plan, then another tier, then the cheapest other
    routable model of the catalogue (a single-tier or pinned plan still gets an independent grader); the
    answering model only when it is alone."""
    index = list(tiers).index(model) if model in tiers else len(tiers)
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


def judges_for(model: str, tiers: Sequence[str], roles: Sequence[str], samples: int,
               catalog: Mapping[str, ModelEntry], examples: Sequence[WorkedExample] = ()) -> list[JudgeSpec]:
    """The one rule from judge roles to the judges of one tier; the planner and ``switchboard collect``
    both call it, so the verdicts collect records are those of the judges the request path runs.

    The answering model checks itself (``self_verify``, AutoMix's sampled self-verification, ``samples``
    times with ``examples`` shown first; ``logprob``, its P(CORRECT) from one forward pass; ``confidence``, the probability it gave its
    own answer's tokens, read from the answering call) and another model grades it (``llm_judge``;
    ``logprob_other``): ``independent_judge``."""
    judges: list[JudgeSpec] = []
    for role in roles:
        if role == "self_verify":
            judges.append(JudgeSpec(kind="self_verify", model=model, samples=samples, examples=list(examples)))
        elif role in ("logprob", "confidence"):
            judges.append(JudgeSpec(kind=role, model=model))  # type: ignore[arg-type]
        elif role == "llm_judge":
            judges.append(JudgeSpec(kind="llm_judge", model=independent_judge(model, tiers, catalog)))
        elif role == "logprob_other":
            judges.append(JudgeSpec(kind="logprob", model=independent_judge(model, tiers, catalog)))
        else:
            raise ValueError(f"unknown judge role {role!r}; known: {list(JUDGE_ROLES)}")
    return judges
