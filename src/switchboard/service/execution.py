"""Running a planned cascade: the state it starts from, the orchestrator that runs it, and what a failed
execution leaves behind (a trace, and an error that names it)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from switchboard.domain.composition import answered, unanswered_parts
from switchboard.domain.requests import ChatRequest
from switchboard.domain.state import CascadeState, Plan
from switchboard.domain.timing import Stage, last_end
from switchboard.ports import Orchestrator
from switchboard.service import telemetry
from switchboard.service.errors import CascadeFailed, CascadeTimedOut, PromptTooLarge
from switchboard.service.timing import add_stage
from switchboard.service.traces import TraceBook, trace_of

log = logging.getLogger(__name__)

# Step Functions passes at most 256 KB between states; the state must stay below it with every answer in.
STATE_LIMIT_BYTES = 256 * 1024
STATE_RESERVE_BYTES = 24 * 1024  # verdicts, decisions and the Map's own envelope
TYPICAL_BYTES_PER_TOKEN = 4


def answer_bytes_cap(state: CascadeState, plans: list[Plan] | None = None) -> int:
    """How many bytes each answer of the plan may take in the state so that the state - request, plan,
    every answer (kept once in ``answers`` and once in its attempt) - fits Step Functions' 256 KB.
    ``plans``: the plans whose answers the state will carry (a decomposed request's parts' plans; default
    the state's own).

    A request whose answers would get less room than ``max_tokens`` typical tokens is refused with 413
    before any model is called; the tasks clip an answer that still exceeds the cap (``plan.answer_bytes_cap``).
    """
    answers = sum(len({t.model for t in plan.tiers} | {j.model for t in plan.tiers for j in t.judges if j.model})
                  for plan in (plans if plans is not None else [state.plan]))
    fixed = len(state.model_dump_json().encode("utf-8")) + STATE_RESERVE_BYTES
    cap = (STATE_LIMIT_BYTES - fixed) // (2 * max(1, answers))
    needed = state.request.max_tokens * TYPICAL_BYTES_PER_TOKEN
    if cap < needed:
        raise PromptTooLarge(f"the request is too large for the cascade: its prompt and up to {answers} answers "
                             f"of max_tokens={state.request.max_tokens} cannot fit the {STATE_LIMIT_BYTES // 1024} KB "
                             "a cascade state can carry; shorten the messages or lower max_tokens")
    return int(cap)


def returned(state: CascadeState) -> CascadeState:
    """The final state with the Record task's stage and the ``return`` stage - from the last task ending
    until the router has the result - in its timing."""
    stages = list(state.timing.stages)
    if state.record is not None and state.record.stage is not None:
        stages.append(state.record.stage)
    end = last_end(stages)
    if end is not None:
        now = time.time()
        stages.append(Stage(stage="return", at=end, ms=round(max(0.0, now - end) * 1000, 1), queue_ms=0.0))
    return state.model_copy(update={"timing": state.timing.model_copy(update={"stages": stages})})


@dataclass
class Deadlines:
    """How long a request may run (seconds): answered at once, or as a job (``POST /v1/route`` async)."""

    request_s: float = 25.0
    job_s: float = 270.0
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)


class CascadeRunner:
    """Starts cascades from plans and maps how their executions ended."""

    def __init__(self, orchestrator: Orchestrator, traces: TraceBook, deadlines: Deadlines | None = None,
                 on_answer: Callable[[CascadeState], None] | None = None) -> None:
        self.orchestrator = orchestrator
        self.traces = traces
        self.deadlines = deadlines or Deadlines()
        self.on_answer = on_answer  # told of every answered cascade (a session's model: ``service.affinity``)

    def new_state(self, request: ChatRequest, plan: Plan, job: bool = False,
                  span: telemetry.Span | None = None) -> CascadeState:
        """The state a cascade starts from: a new id, the request's deadline (a job's longer one), the room
        each answer has in the state (``answer_bytes_cap``: 413 when it is too small) and the trace context
        of the request's span (``span``, else the current one) for the tasks' spans."""
        wait = self.deadlines.job_s if job else self.deadlines.request_s
        classified = plan.classifier.cost_usd if plan.classifier is not None else 0.0  # the slow labels' cost
        state = CascadeState(request_id=self.deadlines.new_id(), request=request, plan=plan,
                             deadline=time.time() + wait, spent_usd=classified,
                             traceparent=telemetry.traceparent(span))
        return state.model_copy(update={"plan": plan.model_copy(update={"answer_bytes_cap": answer_bytes_cap(state)})})

    def run(self, state: CascadeState) -> CascadeState:
        """Run the cascade of a planned state; returns the final state (its trace is written by the record
        task). When the execution fails, a trace of the failure is written here so nothing is lost, and
        ``CascadeFailed`` (``CascadeTimedOut``) carries its id to the caller."""
        outcome = self.orchestrator.run(add_stage(state, Stage(stage="start", at=time.time())))
        if outcome.status != "SUCCEEDED" or outcome.state is None:
            message = f"cascade execution {outcome.status}: {outcome.error}: {outcome.cause}"[:2000]
            if outcome.status != "TIMED_OUT" or self.traces.missing(state.request_id):
                # a timed-out wait may end just as the execution's own record step stores the whole trace
                self.traces.keep(trace_of(state, error=message))
            if outcome.status == "TIMED_OUT":
                raise CascadeTimedOut(state.request_id, "the cascade did not finish in time; see the trace")
            raise CascadeFailed(state.request_id, f"the cascade execution failed ({outcome.status}); see the trace")
        final = returned(outcome.state)
        if final.record_error is not None:  # the Record task failed: keep the trace anyway
            log.error("record task failed for %s: %s", final.request_id, str(final.record_error)[:300])
            self.traces.keep(trace_of(final))
        if not answered(final):
            if final.decision is not None and final.decision.reason == "deadline":
                raise CascadeTimedOut(final.request_id, "no model answered before the request's deadline; "
                                                        "see the trace")
            rejected = [a.rejected for a in final.attempts if a.rejected]
            if rejected:
                what = "tool-call checks" if rejected[-1].startswith("tools") else "response_format"
                raise CascadeFailed(final.request_id, f"no model's answer met the {what} ({rejected[-1]}"
                                                      f"{'' if len(rejected) == 1 else f'; {len(rejected)} answers'}"
                                                      "); see the trace")
            if final.mode == "parts":
                missing = unanswered_parts(final)
                raise CascadeFailed(final.request_id, f"no model could answer part{'s' if len(missing) > 1 else ''} "
                                                      f"{', '.join(map(str, missing))} of the request; see the trace")
            raise CascadeFailed(final.request_id, "every tier of the cascade failed; see the trace")
        if self.on_answer is not None:
            self.on_answer(final)
        return final

    def start(self, state: CascadeState) -> None:
        """Start a job's cascade and return at once; the record task stores its trace when it ends. A job
        that cannot start leaves a failure trace and raises ``CascadeFailed``."""
        try:
            self.orchestrator.start(state)
        except Exception as exc:
            log.exception("could not start job %s", state.request_id)
            self.traces.keep(trace_of(state, error=f"the job could not start: {type(exc).__name__}"))
            raise CascadeFailed(state.request_id, "the job could not start; see the trace") from exc
