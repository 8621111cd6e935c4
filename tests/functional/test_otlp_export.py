"""The spans leave over real OTLP/HTTP (protobuf) to a collector on loopback, GenAI attributes and all; a
collector that is down costs the request nothing and its spans are counted as dropped."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from switchboard.adapters import telemetry as export
from switchboard.service import telemetry
from tests.support.two_tier import ask_two_tier, two_tier_services


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP receiver: every span it was sent, by name, with its attributes."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, dict]] = []
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                collector.paths.append(self.path)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            attributes = {a.key: getattr(a.value, a.value.WhichOneof("value"))
                                          for a in span.attributes}
                            collector.spans.append((span.name, attributes))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_a_cascades_spans_reach_an_otlp_collector_with_their_genai_attributes() -> None:
    collector = Collector()
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{collector.server_address[1]}/v1/traces"
    provider = export.tracer_provider({}, exporter=OTLPSpanExporter(endpoint=url))
    telemetry.use_tracer_provider(provider)
    try:
        state = ask_two_tier(two_tier_services())
        assert provider.force_flush(10_000)
    finally:
        telemetry.use_tracer_provider(None)
        provider.shutdown()
        collector.shutdown()
    assert set(collector.paths) == {"/v1/traces"}
    names = [name for name, _ in collector.spans]
    assert names.count("switchboard request") == 1
    assert {n for n in names if n.startswith("switchboard tier")} == {"switchboard tier 0", "switchboard tier 1"}
    request = next(a for n, a in collector.spans if n == "switchboard request")
    assert request["switchboard.decision"] == f"{state.decision.action}:{state.decision.reason}"
    calls = [a for n, a in collector.spans if n.startswith("chat ")]
    assert calls and all(a["gen_ai.system"] == "openai" and a["gen_ai.usage.output_tokens"] > 0 for a in calls)


def test_a_collector_that_is_down_neither_slows_nor_fails_a_request() -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    provider = export.tracer_provider({}, exporter=OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces",
                                                                    timeout=2))
    services = two_tier_services()
    ask_two_tier(services)  # warm: the first request pays for imports
    started = time.perf_counter()
    ask_two_tier(services)
    without = time.perf_counter() - started
    telemetry.use_tracer_provider(provider)
    try:
        started = time.perf_counter()
        state = ask_two_tier(services)
        with_down_collector = time.perf_counter() - started
        provider.force_flush(10_000)
    finally:
        telemetry.use_tracer_provider(None)
        provider.shutdown()
    assert state.decision is not None and state.decision.action in ("accept", "stop")
    assert with_down_collector < without + 0.5  # export is the batch thread's, never the request's
    processor = provider._active_span_processor._span_processors[0]  # noqa: SLF001
    exporter = getattr(processor, "span_exporter", None) or processor._batch_processor._exporter  # noqa: SLF001
    assert exporter.dropped >= 1 + 2  # the request's span and its tiers' at least, counted as dropped
