"""OTLP export is installed only when an endpoint is configured, and a collector that fails loses spans
(counted), never a request."""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from switchboard.adapters import telemetry as export
from switchboard.service import telemetry


class Down:
    """A collector that cannot be reached: every export raises or fails."""

    def __init__(self, raises: bool) -> None:
        self.raises, self.calls = raises, 0

    def export(self, spans):  # noqa: ANN001, ANN201
        self.calls += 1
        if self.raises:
            raise ConnectionError("collector down")
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_without_an_endpoint_nothing_is_installed_and_spans_do_not_record() -> None:
    assert export.install({}) is None
    assert export.install({"OTEL_SERVICE_NAME": "x"}) is None
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    with telemetry.request_span("auto") as span:
        assert not span.is_recording()


def test_a_collector_that_is_down_drops_and_counts_spans_without_slowing_the_caller() -> None:
    for raises in (True, False):
        down = Down(raises)
        provider = export.tracer_provider({"OTEL_SERVICE_NAME": "gateway"}, exporter=down)
        assert provider.resource.attributes["service.name"] == "gateway"
        telemetry.use_tracer_provider(provider)
        try:
            started = time.perf_counter()
            for _ in range(3):
                with telemetry.tier_span(0, "small") as span:
                    assert span.is_recording()
            assert time.perf_counter() - started < 0.5  # export is the batch thread's, not the caller's
            provider.force_flush()
        finally:
            telemetry.use_tracer_provider(None)
            provider.shutdown()
        dropping = provider._active_span_processor._span_processors[0]  # noqa: SLF001
        exporter = getattr(dropping, "span_exporter", None) or dropping._batch_processor._exporter  # noqa: SLF001
        assert isinstance(exporter, export.DroppingExporter) and exporter.inner is down
        assert down.calls >= 1 and exporter.dropped == 3
