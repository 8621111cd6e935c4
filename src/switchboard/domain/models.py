"""Models at the boundaries of the domain: requests, plans, candidates, verdicts, decisions.

Everything that crosses a state of the cascade state machine is one of these models serialised with
``model_dump(mode="json")``; handlers parse their event into them and never pass raw dicts inward.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["system", "user", "assistant"]
JudgeKind = Literal["llm_judge", "self_verify", "agreement", "verifier"]
Action = Literal["accept", "escalate", "stop"]
RouteKind = Literal["taxonomy", "learned", "default", "pinned"]


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str


class ChatRequest(BaseModel):
    """What a caller asks for, after validation (the HTTP layer maps its own schema onto this)."""

    messages: list[Message] = Field(min_length=1)
    max_tokens: int = Field(default=256, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_cost_usd: float | None = Field(default=None, ge=0.0)
    quality: float | None = Field(default=None, ge=0.0, le=1.0)

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
    api_key_env: str | None = None
    price: ModelPrice
    context_tokens: int = 8192
    timeout_s: float = 60.0


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
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    est_cost_usd: float = Field(default=0.0, ge=0.0)


class Plan(BaseModel):
    """The cascade the router builds for one request: ordered tiers and how it chose them."""

    tiers: list[TierSpec] = Field(min_length=1)
    route: RouteKind = "default"
    category: str | None = None
    similarity: float | None = None
    max_cost_usd: float | None = None

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
    """One model's answer to the request."""

    model: str
    text: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    finish_reason: str | None = None


class Verdict(BaseModel):
    """One judge's opinion of a candidate. ``score`` is P(correct) in [0, 1]; None means abstained."""

    judge: str
    kind: JudgeKind
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    cost_usd: float = 0.0
    detail: str = ""

    @property
    def abstained(self) -> bool:
        return self.score is None


class Attempt(BaseModel):
    """What happened at one tier: the candidate (or the error) and the verdicts on it."""

    tier: int
    model: str
    candidate: Candidate | None = None
    error: str | None = None
    verdicts: list[Verdict] = Field(default_factory=list)
    confidence: float | None = None

    @property
    def cost_usd(self) -> float:
        own = self.candidate.cost_usd if self.candidate else 0.0
        return own + sum(v.cost_usd for v in self.verdicts)


class Decision(BaseModel):
    action: Action
    reason: str
    confidence: float | None = None
    answer_tier: int | None = None
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
    spent_usd: float = 0.0
    decision: Decision | None = None
    current: dict | None = None


class TierResult(BaseModel):
    """Output of the tier task: the candidate and the judges to run on it (a Map iterates over them)."""

    tier: int
    candidate: Candidate
    judges: list[JudgeSpec]


class JudgeTask(BaseModel):
    """Input of one judge task (one item of the judges' Map)."""

    judge: JudgeSpec
    request: ChatRequest
    candidate: Candidate
