"""Models at the boundaries of the domain: requests, plans, candidates, verdicts, decisions.

Everything that crosses a state of the cascade state machine is one of these models serialised with
``model_dump(mode="json")``; handlers parse their event into them and never pass raw dicts inward.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["system", "user", "assistant"]
JudgeKind = Literal["llm_judge", "self_verify", "logprob", "confidence", "agreement", "verifier"]
Action = Literal["accept", "escalate", "stop"]
RouteKind = Literal["taxonomy", "learned", "default", "pinned", "dial"]


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
                    "measured": {**self.measured, **r.measured}, "regions": []})
        return self.model_copy(update={"calibration": {}, "regions": []})

    def covers(self, model: str) -> bool:
        """Whether these judges and this bar were measured on ``model``'s answers: calibrated for it, or
        measured and found unable to verify it (then they still decide its escalation, as measured)."""
        return self.calibration_for(model) is not None or model in (self.measured.get("train_auroc") or {})


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str


class ResponseFormat(BaseModel):
    """What the caller asked the answer to be (OpenAI's ``response_format``; ``domain.formats`` checks it).
    ``json_schema`` is the JSON Schema of a ``json_schema`` request."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["json_object", "json_schema"]
    name: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")

    def openai(self) -> dict[str, Any]:
        """The OpenAI ``response_format`` object (sent to providers that take one)."""
        if self.type == "json_object":
            return {"type": "json_object"}
        return {"type": "json_schema", "json_schema": {"name": self.name or "answer",
                                                        "schema": self.json_schema or {}}}


class Tool(BaseModel):
    """A function the caller offers the model (OpenAI's ``tools[].function``); ``parameters`` is the JSON
    Schema of its arguments."""

    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolUse(BaseModel):
    """The tools of a request and how they may be used: ``choice`` ``auto`` (a call or text) or
    ``required`` (at least one call); ``named``: the one tool every call must be to (``tool_choice`` naming
    a function - kept apart from the mode, since a tool may be called "auto"); ``parallel``: more than one
    call in an answer."""

    tools: list[Tool] = Field(min_length=1)
    choice: Literal["auto", "required"] = "auto"
    named: str | None = None
    parallel: bool = True

    @property
    def text_allowed(self) -> bool:
        return self.choice == "auto" and self.named is None

    def describe(self) -> str:
        return f"function {self.named!r}" if self.named is not None else repr(self.choice)


class ChatRequest(BaseModel):
    """What a caller asks for, after validation (the HTTP layer maps its own schema onto this)."""

    messages: list[Message] = Field(min_length=1)
    max_tokens: int = Field(default=256, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_cost_usd: float | None = Field(default=None, ge=0.0)
    quality: float | None = Field(default=None, ge=0.0, le=1.0)
    profile: str | None = None  # a named operating point of the trained dial (economy, balanced, best)
    # Up to 4 sequences the answer ends before (OpenAI's ``stop``): the text is cut at the first one.
    stop: list[str] = Field(default_factory=list, max_length=4)
    user: str | None = Field(default=None, max_length=256)  # the caller's end-user id, kept in the trace
    key_id: str | None = None  # the API key the request came with (its public id), kept in the trace
    # JSON answers (``domain.formats``): every model is told, and an answer that fails the check is never
    # returned; the format's instruction is already in ``messages``
    response_format: ResponseFormat | None = None
    # Tools the model may call (``domain.formats``: a JSON protocol every model is told and constrained to
    # where it can be; every call's arguments are checked against the tool's schema before it is returned)
    tool_use: ToolUse | None = None

    @property
    def prompt(self) -> str:
        """The text the router embeds: the last user message (the question being asked now)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return self.messages[-1].content


class ModelPrice(BaseModel):
    input_usd_per_mtok: float = Field(ge=0.0)
    output_usd_per_mtok: float = Field(ge=0.0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok) / 1e6


class ModelEntry(BaseModel):
    """One model of the catalogue: how to reach it and what it costs."""

    model_config = ConfigDict(extra="ignore")

    model_id: str = Field(min_length=1)
    provider: Literal["local_gguf", "openai", "bedrock", "anthropic", "replay", "fault"]
    provider_model: str = Field(min_length=1)
    endpoint: str | None = None
    # Where the provider's API key comes from: an environment variable (local runs), or - in AWS - a
    # Secrets Manager secret (its ARN; the secret string is the key, or JSON with an "api_key" field).
    api_key_env: str | None = None
    api_key_secret_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")
    price: ModelPrice
    context_tokens: int = 8192
    timeout_s: float = 60.0
    # Whether the model may be planned for a request with tools (it follows Switchboard's tool-call
    # protocol, ``domain.formats``); false keeps it out of such plans.
    supports_tools: bool = True


class JudgeSpec(BaseModel):
    """A judge to run on a tier's candidate. ``model`` is None for judges that need no model."""

    kind: JudgeKind
    model: str | None = None
    samples: int = Field(default=1, ge=1, le=16)
    weight: float = Field(default=1.0, gt=0.0)

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.model}" if self.model else self.kind


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


class Fusion(BaseModel):
    """How the decide task scores a dial plan's tiers (EMAFusion): the learned verifier over every answer
    bought so far, then ``aggregate_confidence`` with the trained ``weights`` and ``calibration``.

    ``models`` is the verifier's model order and ``router_p`` the learned router's P(correct) of each for
    this prompt (verifier features); ``verifier_sha256`` names the verifier the calibration belongs to
    (a decide task without it treats the plan as unverifiable); ``own_last`` makes the final tier put
    forward its own answer instead of the fused one.
    """

    models: list[str] = Field(min_length=1)
    router_p: list[float]
    own_last: bool = False
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

    @field_validator("tiers")
    @classmethod
    def _models_distinct(cls, tiers: list[TierSpec]) -> list[TierSpec]:
        models = [t.model for t in tiers]
        if len(set(models)) != len(models):
            raise ValueError(f"a plan must not repeat a model: {models}")
        return tiers


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class Candidate(BaseModel):
    """One model's answer to the request. ``key`` is its comparable answer (``domain.answers``: an option
    letter, a number, canonical code, normalised text; None when none could be read); ``reused`` marks an
    answer bought earlier in the same request (by a judge), which costs nothing again."""

    model: str
    text: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    finish_reason: str | None = None
    key: str | None = None
    reused: bool = False
    clipped: bool = False  # the text was cut to the room the cascade state has for an answer
    # the answering call's mean token log-probability, where the provider returned it (the ``confidence``
    # judge reads it: the model's own certainty in what it said, at no extra call)
    mean_logprob: float | None = None


class Verdict(BaseModel):
    """One judge's opinion of a candidate. ``score`` is P(correct) in [0, 1]; None means abstained.

    An agreement judge solves the prompt itself: ``answer_key`` is its answer, and ``answer`` carries the
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
    answer_key: str | None = None
    answer: Candidate | None = None
    failed: bool = False  # the judge could not run (its model failed, the task crashed): not a verdict

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
    answer_key: str | None = None
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


class TierResult(BaseModel):
    """Output of the tier task: the candidate and the judges to run on it (a Map iterates over them)."""

    tier: int
    candidate: Candidate
    judges: list[JudgeSpec]


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
