"""The cascade's state and the models inside it: the plan (tiers, judges, bars), candidates,
verdicts, attempts and the decision.

Everything that crosses a state of the cascade state machine is one of these models serialised with
``model_dump(mode="json")``; handlers parse their event into them and never pass raw dicts inward.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from .judging import Calibration, JudgeKind, JudgeSpec
from .requests import ChatRequest
from .timing import Stage, Timing

Action = Literal["accept", "escalate", "stop"]
RouteKind = Literal["taxonomy", "learned", "default", "pinned", "dial"]
# How the state machine runs a request: its own cascade, or a Map of one cascade per part, then composed.
Mode = Literal["whole", "parts"]


class TierSpec(BaseModel):
    """One rung of the cascade: the model to call, the judges of its answer and the bar to accept it.

    ``est_cost_usd`` is the planner's upper estimate of this tier (model call plus judges), used by the
    policy to stop before a tier that would break the request's budget.
    """

    model: str
    judges: list[JudgeSpec] = Field(default_factory=list)
    threshold: float = Field(default=0.5, ge=0.0, le=1.01)  # above 1: never accepted (escalate)
    # How many judges must state a verdict for the tier to be accepted (None: every judge). A dial plan's
    # quorum is its verifier's verdict with every agreement judge's answer bought.
    quorum: int | None = Field(default=None, ge=0)
    est_cost_usd: float = Field(default=0.0, ge=0.0)
    # The measured map from this tier's judge score to P(correct) (a ``JudgePolicy``'s, fitted on collected
    # verdicts). Without one the judges' accuracy is unknown: the tier may still accept, never as verified.
    calibration: Calibration | None = None
    # AutoMix's POMDP meta-verifier where training deployed one at this decision (a dial's last decision
    # before its safety net): the tier is accepted where ``meta`` maps the confidence to at least one half
    # (its accept / escalate step function), instead of where the confidence reaches ``threshold``.
    meta: Calibration | None = None


class Fusion(BaseModel):
    """How the decide task scores a dial plan's tiers (EMAFusion): the learned verifier over every answer
    bought so far, then ``aggregate_confidence`` with the trained ``weights`` and ``calibration``.

    ``models`` is the verifier's model order and ``router_p`` the learned router's P(correct) of each for
    this prompt (verifier features); ``verifier_sha256`` names the verifier the calibration belongs to
    (a decide task without it treats the plan as unverifiable); ``own_last`` makes the final tier put
    forward its own answer instead of the fused one; ``own_answer`` makes every tier do so, its answer
    scored by the verifier alone (the single-answer cascades of AutoMix and FrugalGPT that ``switchboard
    eval`` compares against).
    """

    models: list[str] = Field(min_length=1)
    router_p: list[float]
    own_last: bool = False
    own_answer: bool = False
    weights: dict[str, float] = Field(default_factory=dict)
    calibration: Calibration = Field(default_factory=Calibration)
    verifier_sha256: str | None = None
    text_similarity_bar: float = 0.85  # cosine similarity at which two free-text answers agree


class Plan(BaseModel):
    """The cascade the router builds for one request: ordered tiers and how it chose them."""

    tiers: list[TierSpec] = Field(min_length=1)
    route: RouteKind = "default"
    category: str | None = None
    similarity: float | None = None
    max_cost_usd: float | None = None
    profile: str | None = None
    point: str | None = None
    fusion: Fusion | None = None
    # The region of the judge policy the prompt fell in (``JudgePolicy.locate``): whose calibration and bar
    # its tiers carry; None outside every region, or with a policy measured without regions.
    judge_region: str | None = None
    # The most UTF-8 bytes an answer may take in the state (the router sizes it so the state fits Step
    # Functions' 256 KB); the tasks clip a longer answer and mark it.
    answer_bytes_cap: int | None = None
    # The release whose models planned it (``domain.release``; None: the packaged models or none): the
    # decide task verifies with that release's verifier.
    release: str | None = None
    # The four-axis taxonomy's labels of the prompt (``domain.axes``), where the dial reads them; the fast
    # classifier's distributions; the slow classifier's call, when one is (to be) made
    labels: dict[str, str] | None = None
    axis_probs: dict[str, list[float]] | None = None
    classifier: ClassifierCall | None = None
    # What a shadow policy (``publish --shadow``) would have done with this request - planned beside this
    # plan, never run; ``switchboard compare`` replays it over the answers this request bought.
    shadow: ShadowRecord | None = None
    # Why the plan starts with the model it does when a conversation kept its model (``domain.affinity``):
    # a continued tool loop or response, or a session; None: planned afresh.
    affinity: str | None = None

    @field_validator("tiers")
    @classmethod
    def _models_distinct(cls, tiers: list[TierSpec]) -> list[TierSpec]:
        models = [t.model for t in tiers]
        if len(set(models)) != len(models):
            raise ValueError(f"a plan must not repeat a model: {models}")
        return tiers


class ClassifierCall(BaseModel):
    """The four-axis taxonomy's slow classifier for a request (``service.slow_classifier``): which axes it
    was asked, what it said, what it cost (charged to the request) and took. ``pending`` until it runs:
    the plan then carries its cost bound, which a key's reservation holds."""

    model: str
    axes: list[str]
    labels: dict[str, str] = Field(default_factory=dict)
    bound_usd: float = 0.0
    cost_usd: float = 0.0
    latency_ms: float | None = None
    pending: bool = False
    error: str | None = None


class ShadowRecord(BaseModel):
    """A shadow policy's plan for a request (or why it has none): recorded, never run, never billed."""

    release: str
    plan: Plan | None = None
    est_cost_usd: float | None = None  # the plan's first tier at list price (what it would surely spend)
    error: str | None = None  # the exception type when the shadow policy failed (the request was unaffected)


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class Candidate(BaseModel):
    """One model's answer to the request. ``canonical`` is its answer in comparable form (``domain.answers``: an option
    letter, a number, canonical code, normalised text; None when none could be read); ``reused`` marks an
    answer bought earlier in the same request (by a judge), which costs nothing again."""

    model: str
    text: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    finish_reason: str | None = None
    canonical: str | None = None
    reused: bool = False
    clipped: bool = False  # the text was cut to the room the cascade state has for an answer
    # the answering call's mean token log-probability, where the provider returned it (the ``confidence``
    # judge reads it: the model's own certainty in what it said, at no extra call)
    mean_logprob: float | None = None


class Verdict(BaseModel):
    """One judge's opinion of a candidate. ``score`` is P(correct) in [0, 1]; None means abstained.

    An agreement judge solves the prompt itself: ``answer_canonical`` is its answer, and ``answer`` carries the
    answer it bought from the judge task to the decide task, which files it under the state's ``answers``
    (so it is never bought twice) and drops it from the verdict.
    """

    judge: str
    kind: JudgeKind
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    usage: Usage = Field(default_factory=Usage)  # tokens the judge was billed for (all its samples)
    detail: str = ""
    answer_canonical: str | None = None
    answer: Candidate | None = None
    failed: bool = False  # the judge could not run (its model failed, the task crashed): not a verdict
    sample: int | None = None  # which sample of a fanned-out judge this is (folded into one verdict by step)
    stage: Stage | None = None  # the judge task's timing, carried to the decide task (which files it in ``timing``)

    @property
    def abstained(self) -> bool:
        return self.score is None


class Attempt(BaseModel):
    """What happened at one tier: the candidate (or the error) and the verdicts on it.

    ``answer_model`` is the model whose answer this attempt puts forward: the tier's own, or with fusion
    the representative of the answer the verifier scores highest among every answer bought so far.
    """

    tier: int
    model: str
    candidate: Candidate | None = None
    error: str | None = None
    verdicts: list[Verdict] = Field(default_factory=list)
    confidence: float | None = None
    # whether ``confidence`` is a measured P(correct) (calibrated judges, or a dial's verifier) or a raw score
    measured: bool = False
    answer_model: str | None = None
    answer_canonical: str | None = None
    # why the answer this attempt puts forward can never be returned (it broke the request's
    # ``response_format``); the attempt is then a failed tier whose call was still paid for
    rejected: str | None = None

    @property
    def cost_usd(self) -> float:
        own = self.candidate.cost_usd if self.candidate else 0.0
        return own + sum(v.cost_usd for v in self.verdicts)


class Decision(BaseModel):
    action: Action
    reason: str
    confidence: float | None = None
    answer_tier: int | None = None
    answer_model: str | None = None
    verified: bool = False


class CascadeState(BaseModel):
    """The state that flows through the cascade state machine (execution input and every state's output).

    ``current`` holds the raw output of the tier task (a ``TierResult``) or the error object Step Functions'
    Catch put there; ``verdicts`` of the judges' Map sit inside it. ``decide`` folds it into ``attempts``.
    """

    model_config = ConfigDict(extra="ignore")

    request_id: str
    request: ChatRequest
    plan: Plan
    tier: int = 0
    attempts: list[Attempt] = Field(default_factory=list)
    answers: dict[str, Candidate] = Field(default_factory=dict)
    spent_usd: float = 0.0
    # When the request must be answered by (epoch seconds): every provider call is bounded by it, and the
    # policy does not escalate when too little of it is left.
    deadline: float | None = None
    decision: Decision | None = None
    current: dict | None = None
    # The first tier's answer, already bought by the router while it streamed the tokens to the caller: the
    # tier task files it (cost and all) instead of calling the model again.
    streamed: Candidate | None = None
    # Set by the state machine when the Record task failed: the router then writes the trace itself.
    record_error: dict | None = None
    # "parts": the request was decomposed - the state machine runs each of ``decomposition.parts`` as a
    # cascade of its own (a Map), then composes them; ``plan`` is then the whole request's (not run).
    mode: Mode = "whole"
    # The decomposition tried for this request (``service.decomposing``): the detector's cues, the
    # decomposer's call, the parts and the composed answer; None when the detector saw one task.
    decomposition: Decomposition | None = None
    # Where the request's time went, stage by stage (``domain.timing``); each task adds its own.
    timing: Timing = Field(default_factory=Timing)
    # What the Record task returned (the state machine puts it here): the trace id and the write's timing.
    record: Recorded | None = None
    # The request span's W3C trace context (``service.telemetry``): the tasks' spans join its trace. None
    # when no spans are recorded.
    traceparent: str | None = None


class Recorded(BaseModel):
    """The Record task's result: the trace it stored and how long storing it took."""

    trace_id: str
    stored: bool = True
    stage: Stage | None = None


class DecomposerCall(BaseModel):
    """The decomposer's call: its model, reply (cost and tokens included) or error, and what came of it."""

    model: str
    reply: Candidate | None = None
    error: str | None = None
    outcome: str = ""  # "3 parts", or why the request is answered whole


class Decomposition(BaseModel):
    """A request split into parts (``domain.decomposition``), each answered by a cascade of its own.

    ``cues`` are what the detector saw (``domain.detector``). ``parts`` are the parts' cascade states - empty
    when no decomposition was used (the decomposer was not called, its reply was not a decomposition, or the
    parts could not be planned within the budget), and the request was answered whole. ``composed`` is the
    answer ``domain.composition.compose`` assembled from them, in the order of the parts."""

    cues: dict[str, int] = Field(default_factory=dict)
    decomposer: DecomposerCall | None = None
    outcome: str = ""
    parts: list[CascadeState] = Field(default_factory=list)
    composed: Candidate | None = None
    composer: str = "labelled"  # deterministic: the parts' answers concatenated, each labelled


class TierResult(BaseModel):
    """Output of the tier task: the candidate and the judges to run on it (a Map iterates over them)."""

    tier: int
    candidate: Candidate
    judges: list[JudgeSpec]
    stage: Stage | None = None  # the tier task's timing (the decide task files it in ``timing``)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def judged(self) -> bool:
        """Whether the Map of judges runs (the state machine's ``Judged`` choice reads it): a tier without
        judges goes straight to Decide."""
        return bool(self.judges)


class JudgeTask(BaseModel):
    """Input of one judge task (one item of the judges' Map). ``answers`` are those bought so far in the
    request: an agreement judge whose model already answered reuses that answer."""

    model_config = ConfigDict(extra="ignore")

    judge: JudgeSpec
    request: ChatRequest
    candidate: Candidate
    answers: dict[str, Candidate] = Field(default_factory=dict)
    deadline: float | None = None  # the request's deadline (epoch seconds)
    answer_bytes_cap: int | None = None  # the plan's cap on an answer's size in the state
    traceparent: str | None = None  # the request span's trace context: the judge's span joins its trace


Plan.model_rebuild()
CascadeState.model_rebuild()
