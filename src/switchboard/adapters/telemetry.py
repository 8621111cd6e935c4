"""OTLP export of Switchboard's spans (``service.telemetry``), when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Without that variable nothing is installed: the OpenTelemetry API's no-op tracer answers every span and
neither the SDK nor the exporter is imported. With it, an SDK tracer provider (service name from
``OTEL_SERVICE_NAME``, default ``switchboard``) batches spans to the collector over OTLP/HTTP (protobuf);
the exporter reads the rest of its standard ``OTEL_EXPORTER_OTLP_*`` settings (headers, timeout) itself.

Export runs on the batch processor's thread, never on a request's: a collector that is down or slow costs
a request nothing. Spans it could not take are dropped and counted (``DroppingExporter.dropped``), and the
batch queue is bounded, so they cannot pile up in memory either.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
SERVICE_NAME = "OTEL_SERVICE_NAME"
_installed: Any = None
_lock = threading.Lock()


class DroppingExporter:
    """An exporter that never raises into the SDK: what the wrapped one fails to send is counted and dropped."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.dropped = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        try:
            result = self.inner.export(spans)
        except Exception:  # noqa: BLE001 - a failed export loses its spans, never the request
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            with self._lock:
                first = self.dropped == 0
                self.dropped += len(spans)
            if first:
                log.warning("OTLP export failed; dropping spans (counted in DroppingExporter.dropped)")
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


def tracer_provider(env: Mapping[str, str], exporter: Any = None) -> Any:
    """An SDK tracer provider exporting in batches through ``exporter`` (default: OTLP/HTTP to the
    environment's endpoint), wrapped so a failed export is dropped and counted."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # reads OTEL_EXPORTER_OTLP_* from the environment
    provider = TracerProvider(resource=Resource.create({"service.name": env.get(SERVICE_NAME) or "switchboard"}))
    provider.add_span_processor(BatchSpanProcessor(DroppingExporter(exporter)))  # type: ignore[arg-type]
    return provider


def install(env: Mapping[str, str] | None = None) -> Any:
    """Install the OTLP-exporting provider as OpenTelemetry's global one when the environment names an
    endpoint (once per process); returns it, or None when export is off."""
    global _installed
    env = os.environ if env is None else env
    if not (env.get(ENDPOINT) or env.get(TRACES_ENDPOINT)):
        return None
    with _lock:
        if _installed is None:
            from opentelemetry import trace

            try:
                _installed = tracer_provider(env)
            except ImportError as exc:  # the SDK or exporter is not installed (the Lambda layers carry the API only)
                log.warning("%s is set but the OpenTelemetry SDK cannot be loaded (%s); spans are not exported",
                            ENDPOINT, exc)
                return None
            trace.set_tracer_provider(_installed)
            log.info("exporting spans over OTLP/HTTP to %s", env.get(TRACES_ENDPOINT) or env.get(ENDPOINT))
        return _installed
