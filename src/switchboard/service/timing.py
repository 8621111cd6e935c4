"""The clocks behind ``domain.timing``: a stage measured where it runs, and the parts of it spent in model
calls, the encoder or authentication.

``stage`` opens a stage on this thread (a context variable: the HTTP server answers each request on its
own thread, and a task runs on one); ``within`` adds the time of a block to the stage open around it, so
the provider adapters and the encoder need not know of stages. Reading a clock never changes a decision:
the stages are written beside the state's decisions, and nothing reads them back but the views.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from switchboard.domain.state import CascadeState
from switchboard.domain.timing import Stage, StageName, append, fold_tier, in_part

Part = Literal["model_ms", "embed_ms", "plan_ms", "auth_ms"]
STALE_AUTH_S = 5.0


class StageClock:
    """One stage being measured: its start (wall clock, to compare across processes; the duration from
    the monotonic clock) and the time spent in its parts."""

    def __init__(self, name: StageName, **labels: Any) -> None:
        self.name, self.labels = name, labels
        self.at = time.time()
        self._start = time.perf_counter()
        self.parts: dict[str, float] = {}
        self.ms: float | None = None

    def add(self, part: Part, ms: float) -> None:
        self.parts[part] = self.parts.get(part, 0.0) + ms

    def stop(self) -> None:
        if self.ms is None:
            self.ms = (time.perf_counter() - self._start) * 1000

    @property
    def stage(self) -> Stage:
        """The stage as measured so far (its whole duration once the ``with`` block has ended)."""
        ms = self.ms if self.ms is not None else (time.perf_counter() - self._start) * 1000
        return Stage.model_validate({"stage": self.name, "at": self.at, "ms": round(ms, 1), **self.labels,
                                     **{k: round(v, 1) for k, v in self.parts.items()}})


_open: ContextVar[StageClock | None] = ContextVar("switchboard_stage", default=None)
# This thread's last authentication (start, ms): the endpoint authenticates before the chat service runs.
_auth: ContextVar[tuple[float, float] | None] = ContextVar("switchboard_auth", default=None)


@contextmanager
def stage(name: StageName, **labels: Any) -> Iterator[StageClock]:
    clock = StageClock(name, **labels)
    token = _open.set(clock)
    try:
        yield clock
    finally:
        clock.stop()
        _open.reset(token)


@contextmanager
def within(part: Part) -> Iterator[None]:
    """Add the block's time to the open stage's ``part`` (nothing when no stage is open)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        clock = _open.get()
        if clock is not None:
            clock.add(part, (time.perf_counter() - started) * 1000)


@contextmanager
def authenticating() -> Iterator[None]:
    """Measure an authentication; the next ``admitted`` stage on this thread counts it in."""
    at, started = time.time(), time.perf_counter()
    try:
        yield
    finally:
        _auth.set((at, (time.perf_counter() - started) * 1000))


def take_auth() -> tuple[float, float] | None:
    """This thread's last authentication, once (a later request on the thread starts afresh)."""
    measured = _auth.get()
    _auth.set(None)
    return measured


def admitted(clock: StageClock) -> Stage:
    """The admit stage, from the authentication that preceded it on this thread where there was one
    (one that ended more than ``STALE_AUTH_S`` before was another request's)."""
    measured = take_auth()
    admit = clock.stage
    if measured is None or admit.at - measured[0] - measured[1] / 1000 > STALE_AUTH_S:
        return admit
    at, auth_ms = measured
    whole = (admit.at - at) * 1000 + (admit.ms or 0.0)
    return admit.model_copy(update={"at": at, "ms": round(whole, 1), "auth_ms": round(auth_ms, 1)})


def planned(state: CascadeState, admit: StageClock, route: StageClock) -> CascadeState:
    """A new cascade state with the router's first stages: admit (with the caller's authentication), then
    route (its ``plan_ms`` the planning besides the encoder)."""
    routed = route.stage
    routed = routed.model_copy(update={"plan_ms": round((routed.ms or 0.0) - (routed.embed_ms or 0.0), 1)})
    return add_stage(with_stages(state, [admitted(admit)]), routed)


def finished(state: CascadeState) -> CascadeState:
    """The final state with the request's whole time in the router: from its first stage's start (the
    caller's authentication, where it was timed) until now."""
    if not state.timing.stages:
        return state
    total = round((time.time() - state.timing.stages[0].at) * 1000, 1)
    return state.model_copy(update={"timing": state.timing.model_copy(update={"total_ms": total})})


def fold_current(state: CascadeState) -> tuple[CascadeState, list[Stage]]:
    """The state the decide task decides on - its tier's output without the stages the tasks measured -
    and the state's stages with those filed in (the tier's, then its judges')."""
    current = state.current
    if current is None or "candidate" not in current:
        return state, list(state.timing.stages)
    tier = Stage.model_validate(current["stage"]) if current.get("stage") else None
    raw = current.get("verdicts") or []
    judges = [Stage.model_validate(v["stage"]).model_copy(update={"tier": state.tier})
              for v in raw if isinstance(v, dict) and v.get("stage")]
    clean = {**{k: v for k, v in current.items() if k != "stage"},
             "verdicts": [{k: v for k, v in item.items() if k != "stage"} if isinstance(item, dict) else item
                          for item in raw]}
    return state.model_copy(update={"current": clean}), fold_tier(state.timing.stages, tier, judges)


def with_stages(state: CascadeState, stages: list[Stage]) -> CascadeState:
    return state.model_copy(update={"timing": state.timing.model_copy(update={"stages": stages})})


def add_stage(state: CascadeState, stage: Stage, after: float | None = None) -> CascadeState:
    return with_stages(state, append(state.timing.stages, stage, after))


def parts_folded(state: CascadeState) -> list[Stage]:
    """The state's stages with each part's cascade stages filed in (labelled with its part)."""
    parts = state.decomposition.parts if state.decomposition is not None else []
    stages = list(state.timing.stages)
    for stage in sorted((s for k, p in enumerate(parts, 1) for s in in_part(p.timing.stages, k)),
                        key=lambda s: s.at):
        stages = append(stages, stage, after=stage.at - (stage.queue_ms or 0.0) / 1000)
    return stages


__all__ = ["StageClock", "add_stage", "admitted", "authenticating", "finished", "fold_current", "parts_folded",
           "planned", "stage", "with_stages", "within"]
