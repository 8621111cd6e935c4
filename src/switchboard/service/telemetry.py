"""Spans of a request for tools that read OpenTelemetry (and, in Lambda, X-Ray subsegments): one per
request, tier, judge call and model call, with the GenAI semantic conventions' attributes
(``gen_ai.operation.name``, ``gen_ai.system``, ``gen_ai.request.model``, ``gen_ai.response.model``,
``gen_ai.usage.*``) and Switchboard's (``switchboard.tier``, ``.judge``, ``.decision``, ``.verified``,
``.cost_usd``).

The tasks run in other processes than the router (Lambda functions; locally, the emulator's threads), so
the request's span context travels in the cascade state as a W3C ``traceparent`` (``traceparent``), and
each tier and judge span is started under it (``parent``): one trace per request, wherever its tasks ran.

Only the OpenTelemetry API is used here: without an SDK provider (``adapters.telemetry`` installs one when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set) every span is the API's non-recording one and no attribute is
built. A Lambda function hands its Powertools tracer to ``use_xray``; each model call is then also a
subsegment annotated with its model, tier and cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from switchboard.domain.state import CascadeState
from switchboard.service import timing

__all__ = ["ModelCall", "Span", "decided", "judge_span", "model_call", "outcome", "request_span", "start_request", "tier_span",
           "traceparent", "use_tracer_provider", "use_xray"]
TRACER_NAME = "switchboard"
_tracer = trace.get_tracer(TRACER_NAME)  # a proxy: it follows the provider installed at any time after
_xray: Any = None  # a Powertools Tracer (Lambda functions), or None
_propagator = TraceContextTextMapPropagator()


def use_tracer_provider(provider: Any) -> None:
    """Make spans through ``provider`` (an SDK ``TracerProvider``; None: OpenTelemetry's global one again)."""
    global _tracer
    _tracer = provider.get_tracer(TRACER_NAME) if provider is not None else trace.get_tracer(TRACER_NAME)


def use_xray(tracer: Any) -> None:
    """Open an X-Ray subsegment per model call through ``tracer`` (Powertools' ``Tracer``; None: stop). A
    disabled tracer (outside Lambda, or ``POWERTOOLS_TRACE_DISABLED``) is not used at all."""
    global _xray
    _xray = tracer if tracer is not None and not getattr(tracer, "disabled", False) else None


@contextmanager
def request_span(model: str) -> Iterator[Span]:
    """The request's span (the router's server span); ``decided`` sets what came of it."""
    with _tracer.start_as_current_span("switchboard request", kind=SpanKind.SERVER) as span:
        if span.is_recording():
            span.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": model})
        yield span


def start_request(model: str) -> Span:
    """A streamed request's span, started but not made current (its events are produced on other
    threads); the caller ends it."""
    span = _tracer.start_span("switchboard request", kind=SpanKind.SERVER)
    if span.is_recording():
        span.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": model})
    return span


def traceparent(span: Span | None = None) -> str | None:
    """The W3C ``traceparent`` of ``span`` (None: the current span), for the tasks to start their spans
    under; None when it records nothing (no SDK provider), so the state carries nothing then."""
    span = span if span is not None else trace.get_current_span()
    if not span.is_recording():
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def parent(header: str | None) -> Context | None:
    """The context a task's span starts under: the request's, from the state's ``traceparent`` (None: the
    current one, e.g. a state that carries none)."""
    return _propagator.extract({"traceparent": header}) if header else None


def decided(span: Span, state: CascadeState) -> None:
    if not span.is_recording():
        return
    decision = state.decision
    span.set_attributes({"switchboard.trace_id": state.request_id, "switchboard.route": state.plan.route,
                         "switchboard.cost_usd": state.spent_usd,
                         "switchboard.verified": bool(decision and decision.verified),
                         "switchboard.tiers_run": len(state.attempts)})
    if decision is not None:
        span.set_attribute("switchboard.decision", f"{decision.action}:{decision.reason}")
        if decision.answer_model:
            span.set_attribute("gen_ai.response.model", decision.answer_model)


@contextmanager
def tier_span(tier: int, model: str, under: str | None = None) -> Iterator[Span]:
    """A tier's span, under the request whose ``traceparent`` is ``under``."""
    with _tracer.start_as_current_span(f"switchboard tier {tier}", context=parent(under)) as span:
        if span.is_recording():
            span.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                                 "switchboard.tier": tier})
        yield span


@contextmanager
def judge_span(judge: str, kind: str, model: str | None, tier: int | None = None,
               under: str | None = None) -> Iterator[Span]:
    """A judge call's span, under the request whose ``traceparent`` is ``under``."""
    with _tracer.start_as_current_span(f"switchboard judge {judge}", context=parent(under)) as span:
        if span.is_recording():
            span.set_attributes({"gen_ai.operation.name": "chat", "switchboard.judge": judge,
                                 "switchboard.judge_kind": kind,
                                 **({"gen_ai.request.model": model} if model else {}),
                                 **({"switchboard.tier": tier} if tier is not None else {})})
        yield span


def outcome(span: Span, cost_usd: float, input_tokens: int, output_tokens: int, **extra: Any) -> None:
    """What a tier or judge came to: its cost and tokens (and any other ``switchboard.*`` attribute)."""
    if span.is_recording():
        span.set_attributes({"switchboard.cost_usd": cost_usd, "gen_ai.usage.input_tokens": input_tokens,
                             "gen_ai.usage.output_tokens": output_tokens,
                             **{f"switchboard.{k}": v for k, v in extra.items() if v is not None}})


class ModelCall:
    """One call to a model, being made: ``done`` records what it returned."""

    def __init__(self, span: Span, subsegment: Any, model: str) -> None:
        self.span, self.subsegment, self.model = span, subsegment, model

    def done(self, provider_model: str, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        if self.span.is_recording():
            self.span.set_attributes({"gen_ai.response.model": provider_model,
                                      "gen_ai.usage.input_tokens": input_tokens,
                                      "gen_ai.usage.output_tokens": output_tokens,
                                      "switchboard.cost_usd": cost_usd})
        if self.subsegment is not None:
            self.subsegment.put_annotation("cost_usd", cost_usd)
            self.subsegment.put_metadata("usage", {"input_tokens": input_tokens, "output_tokens": output_tokens})


@contextmanager
def model_call(system: str, model: str, provider_model: str, tier: int | None = None,
               judge: str | None = None) -> Iterator[ModelCall]:
    """A model call's span (a client span, ``chat <provider model>``), its X-Ray subsegment in Lambda, and
    its time counted in the open stage's ``model_ms``."""
    subsegment_cm = (_xray.provider.in_subsegment(f"## model {model}") if _xray is not None else nullcontext())
    with (timing.within("model_ms"), subsegment_cm as subsegment,
          _tracer.start_as_current_span(f"chat {provider_model}", kind=SpanKind.CLIENT) as span):
        if span.is_recording():
            span.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.system": system,
                                 "gen_ai.request.model": provider_model, "switchboard.model": model,
                                 **({"switchboard.tier": tier} if tier is not None else {}),
                                 **({"switchboard.judge": judge} if judge is not None else {})})
        if subsegment is not None:
            subsegment.put_annotation("model", model)
            if tier is not None:
                subsegment.put_annotation("tier", tier)
            if judge is not None:
                subsegment.put_annotation("judge", judge)
        try:
            yield ModelCall(span, subsegment, model)
        except Exception as exc:
            if span.is_recording():
                span.set_status(StatusCode.ERROR, type(exc).__name__)
            raise
