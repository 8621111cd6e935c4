"""Where a request's time went, stage by stage: the ``timing`` of a cascade state, its trace and the
``switchboard.timing`` of the response.

A stage is one piece of work with its wall-clock start (``at``, epoch seconds: the tasks run in different
processes, so only wall clocks compare across them), its duration and its queueing gap - the time between
the stage it waited for ending and it starting (Lambda invoke, Step Functions' transition, a Map's fan-out).
What each stage waited for:

- ``admit``: nothing (the request's first stage; it includes authenticating the caller, ``auth_ms``);
- ``route``: ``admit`` (``embed_ms`` in the encoder, ``plan_ms`` the rest of planning);
- ``start``: ``route``; it lasts from the router starting the execution until the first task starts, so the
  first task's queue is 0;
- ``tier``: the previous stage (``start``, or the previous tier's ``decide``);
- ``judge``: its tier (they run side by side, each queued after the tier ended);
- ``decide``: its tier and every judge of it;
- ``compose``: every part's cascade; ``record``: the stage before it;
- ``return``: from the last task ending until the router has the execution's result.

Pure: the clocks are read by the service (``service.timing``); these functions only do the arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, Field

StageName = Literal["admit", "route", "start", "tier", "judge", "decide", "compose", "record", "return"]


class Stage(BaseModel):
    """One stage of a request. ``ms`` is None while a stage has not ended (the record stage in the trace it
    writes: its write's own time is in the response and the metrics)."""

    stage: StageName
    at: float = Field(description="when the stage started (epoch seconds)")
    ms: float | None = None
    queue_ms: float | None = None
    tier: int | None = None
    part: int | None = None  # a decomposed request's part whose cascade ran the stage
    model: str | None = None
    judge: str | None = None
    model_ms: float | None = None  # in model calls (tier, judge)
    embed_ms: float | None = None  # in the encoder (route)
    plan_ms: float | None = None  # planning besides the encoder (route)
    auth_ms: float | None = None  # authenticating the caller (admit)

    @property
    def ended(self) -> float:
        return self.at + (self.ms or 0.0) / 1000


class Timing(BaseModel):
    """A request's stages in the order they started, and its whole time in the router (None until the
    router has the result: a trace written by the record task has none)."""

    total_ms: float | None = None
    stages: list[Stage] = Field(default_factory=list)


def _ms(seconds: float) -> float:
    return round(max(0.0, seconds) * 1000, 1)


def queued(stage: Stage, after: float | None) -> Stage:
    """``stage`` with its queueing gap since ``after`` (epoch seconds; None: nothing to wait for)."""
    return stage.model_copy(update={"queue_ms": None if after is None else _ms(stage.at - after)})


def last_end(stages: Iterable[Stage]) -> float | None:
    return max((s.ended for s in stages), default=None)


def append(stages: Sequence[Stage], stage: Stage, after: float | None = None) -> list[Stage]:
    """``stages`` with ``stage`` added, queued after ``after`` (default: the end of the latest stage). An
    open ``start`` stage ends where the first task begins."""
    out = list(stages)
    if out and out[-1].stage == "start" and out[-1].ms is None:
        out[-1] = out[-1].model_copy(update={"ms": _ms(stage.at - out[-1].at)})
        return [*out, stage.model_copy(update={"queue_ms": 0.0})]
    return [*out, queued(stage, after if after is not None else last_end(out))]


def fold_tier(stages: Sequence[Stage], tier: Stage | None, judges: Sequence[Stage]) -> list[Stage]:
    """The stages with a tier's (None: its task failed, nothing measured) and its judges' added, each judge
    queued after the tier ended."""
    out = append(stages, tier) if tier is not None else list(stages)
    after = out[-1].ended if tier is not None else last_end(out)
    return [*out, *(queued(j, after) for j in sorted(judges, key=lambda j: j.at))]


def in_part(stages: Iterable[Stage], part: int) -> list[Stage]:
    """A part's cascade stages (tier, judge, decide), labelled with the part."""
    return [s.model_copy(update={"part": part}) for s in stages if s.stage in ("tier", "judge", "decide")]


def ended(stage: Stage, at: float) -> Stage:
    """``stage`` ending at ``at`` (epoch seconds)."""
    return stage.model_copy(update={"ms": _ms(at - stage.at)})
