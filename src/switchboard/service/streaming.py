"""Streaming a request's answer (``stream: true``) as events the HTTP layer writes out (server-sent events
in ``switchboard.http.sse``).

Everything that can refuse the request (keys, planning, the budget) happens before the first event, so a
refusal is a normal HTTP error. Then:

- a plan of one tier - a pinned model, or a category served by one model - streams the model's tokens as
  it produces them (where the router can call the model and the provider streams; not with ``stop``,
  ``response_format`` or tools, whose checks need the whole answer): its judges cannot change the answer,
  only say whether it is verified, and that comes with the final state. A model that fails before its
  first token falls through to the cascade, as if nothing had been streamed; after it, the stream ends
  with an error event, never as a silent success;
- a cascade decides first - nothing a judge may still reject is sent - with keep-alives while it works.

``live=False`` (a response delivered in one piece, as a Lambda proxy integration does): no keep-alives and
no token streaming, so every failure is still raised before the first event, as a proper HTTP error.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from switchboard.domain.state import Candidate, CascadeState
from switchboard.ports import CatalogSource, ProviderSource
from switchboard.service import telemetry, timing
from switchboard.service.admission import Admission, Admitted
from switchboard.service.commands import ChatCommand
from switchboard.service.decomposing import Splitter
from switchboard.service.errors import ApiError, CascadeFailed
from switchboard.service.execution import CascadeRunner
from switchboard.service.routing import RoutePlanner
from switchboard.service.traces import trace_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeepAlive:
    """Nothing yet: the cascade is still working (the connection is kept)."""


@dataclass(frozen=True)
class Delta:
    """A piece of the answer's text as the model produced it (a single tier's, before its judges ran)."""

    request_id: str
    model: str
    text: str


@dataclass(frozen=True)
class Final:
    """The request's final state: the answer (whole, unless ``Delta`` events sent its text already), the
    judges' verdicts, the decision and the cost."""

    state: CascadeState


@dataclass(frozen=True)
class Failed:
    """The stream must end in failure after it began (an error event)."""

    error: Exception


StreamEvent = KeepAlive | Delta | Final | Failed


@dataclass
class _Progress:
    """How far a stream got: whether an event was sent (then a failure is an error event), what it spent."""

    spent: float
    sent: bool = False


@dataclass
class StreamSources:
    """What the stream service reads besides the other services: the catalogue, where the router can call
    models itself (None: every answer comes from the cascade's tier task), the keep-alive interval."""

    catalog: CatalogSource
    providers: ProviderSource | None = None
    keep_alive_s: float = 5.0


class StreamService:
    def __init__(self, admission: Admission, planner: RoutePlanner, runner: CascadeRunner,
                 sources: StreamSources, splitter: Splitter) -> None:
        self.admission = admission
        self.planner = planner
        self.runner = runner
        self.sources = sources
        self.splitter = splitter

    def stream(self, command: ChatCommand, live: bool = True) -> Iterator[StreamEvent]:
        """The events of the command's answer (see the module docstring). Refusals are raised here, before
        the iterator is returned; the key's reservation is settled once the events end."""
        with timing.stage("admit") as admit:
            admitted = self.admission.admit(command)
        span = telemetry.start_request(admitted.pinned or "auto")  # not current: the events cross threads
        try:  # every refusal before the events start, with the reservation returned
            with timing.stage("route") as route:
                plan = admitted.plan or self.planner.plan(admitted.request, admitted.pinned)
                plan = self.planner.refine(admitted.request, plan)
                state = self.splitter.split(self.runner.new_state(admitted.request, plan, span=span))
            state = timing.planned(state, admit, route)
        except Exception as exc:
            span.end()
            if isinstance(exc, ApiError):
                self.admission.settle(admitted, 0.0)
            raise
        request = admitted.request
        if (live and self.sources.providers is not None and state.mode == "whole" and state.decomposition is None
                and len(plan.tiers) == 1 and not request.stop
                and request.response_format is None and request.tool_use is None):
            return self._settled(admitted, span, lambda progress: self._token_events(state, progress))
        return self._settled(admitted, span, lambda progress: self._cascade_events(state, live, progress))

    def _settled(self, admitted: Admitted, span: telemetry.Span,
                 events: Callable[[_Progress], Iterator[StreamEvent]]) -> Iterator[StreamEvent]:
        """The events of a stream, with what every stream owes whatever happens: a failure before the first
        event is raised (an HTTP error status), after it a ``Failed`` event ends the stream; and the key's
        reservation is settled once - with the spend when known, else what was held (a client that went
        away closes the stream here too)."""
        progress = _Progress(spent=admitted.held)
        try:
            for event in events(progress):
                progress.sent = True
                if isinstance(event, Final):
                    telemetry.decided(span, event.state)
                yield event
        except Exception as exc:  # noqa: BLE001 - an error status before the first event, an error event after
            if isinstance(exc, ApiError):
                progress.spent = self.admission.spent_when_failed(exc, progress.spent)
            if not progress.sent:
                raise
            yield Failed(exc)
        finally:
            span.end()
            self.admission.settle(admitted, progress.spent)

    def _token_events(self, state: CascadeState, progress: _Progress) -> Iterator[StreamEvent]:
        from switchboard.service.tasks import solve

        providers = self.sources.providers
        assert providers is not None
        spec = state.plan.tiers[0]
        pieces: queue.Queue[tuple[str, object]] = queue.Queue()

        def call() -> None:
            try:
                answer = solve(spec.model, state.request, self.sources.catalog.models(), providers,
                               deadline=state.deadline, cap=state.plan.answer_bytes_cap,
                               on_delta=lambda text: pieces.put(("delta", text)))
                pieces.put(("answer", answer))
            except Exception as exc:  # noqa: BLE001 - reported below (fall through, or an error event)
                pieces.put(("failed", exc))

        threading.Thread(target=call, name=f"stream-{state.request_id[:8]}", daemon=True).start()
        while True:
            try:
                kind, value = pieces.get(timeout=self.sources.keep_alive_s)
            except queue.Empty:
                if progress.sent:
                    yield KeepAlive()
                continue
            if kind == "delta":
                yield Delta(state.request_id, spec.model, str(value))
                continue
            if kind == "failed" and not progress.sent:  # nothing sent: the cascade answers, as if never streamed
                log.warning("streamed call to %s failed before its first token: %s", spec.model,
                            type(value).__name__)
                final = self.runner.run(state)
                progress.spent = final.spent_usd
                yield Final(timing.finished(final))
                return
            if kind == "failed":
                error = f"the model failed mid-stream: {type(value).__name__}"
                self.runner.traces.keep(trace_of(state, error=error))
                yield Failed(CascadeFailed(state.request_id, error + "; see the trace"))
                return
            break
        answer = value
        assert isinstance(answer, Candidate)
        if not progress.sent and answer.text:  # a provider that does not stream: the whole answer at once
            yield Delta(state.request_id, spec.model, answer.text)
        final = self.runner.run(state.model_copy(update={"streamed": answer}))
        progress.spent = final.spent_usd
        yield Final(timing.finished(final))

    def _cascade_events(self, state: CascadeState, live: bool, progress: _Progress) -> Iterator[StreamEvent]:
        done: queue.Queue[tuple[str, object]] = queue.Queue()

        def run() -> None:
            try:
                done.put(("state", self.runner.run(state)))
            except Exception as exc:  # noqa: BLE001 - raised or sent below
                done.put(("failed", exc))

        threading.Thread(target=run, name=f"cascade-{state.request_id[:8]}", daemon=True).start()
        while True:
            try:
                kind, value = done.get(timeout=self.sources.keep_alive_s if live else None)
                break
            except queue.Empty:
                yield KeepAlive()
        if kind == "failed":
            raise value  # type: ignore[misc]
        final: CascadeState = value  # type: ignore[assignment]
        progress.spent = final.spent_usd
        yield Final(timing.finished(final))
