"""One trace per request on the local stack: the router's request span and the spans of the tier and judge
tasks the synthesised state machine runs (on the local stack's task threads, as Lambda runs them in other
processes) share a trace id, the tasks' context carried in the execution's state (``traceparent``) and
through the judges' Map."""

from __future__ import annotations

import json
import os

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from switchboard.http.server import LocalServer
from switchboard.local.emulator import free_port
from switchboard.local.stack import LocalStack, StackOptions
from switchboard.service import telemetry
from tests.support.fake_openai_server import FakeOpenAIServer

KEY_ENV = "SB_FAKE_UPSTREAM_KEY"


def reply(body: dict) -> str:
    last = str((body.get("messages") or [{}])[-1].get("content", ""))
    return "VERDICT: CORRECT" if "<<<ANSWER" in last else "4"


def test_a_requests_task_spans_join_its_trace_through_the_state_machine(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv(KEY_ENV, "sk-fake")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with FakeOpenAIServer(reply=reply, delay_s=0.0, drip_s=0.0) as upstream:
        catalog = tmp_path / "catalog.json"
        catalog.write_text(json.dumps(upstream.catalog({"fast": 0.1, "strong": 1.0}, KEY_ENV, timeout_s=5.0)))
        local = LocalStack(StackOptions(catalog_path=catalog, state_dir=tmp_path / "state", deadline_s=15)).start()
        http = LocalServer(local, port=free_port()).start_background()
        telemetry.use_tracer_provider(provider)
        try:
            response = httpx.post(f"{http.url}/v1/chat/completions", timeout=120, json={
                "model": "auto", "max_tokens": 8, "messages": [{"role": "user", "content": "What is 2+2?"}]})
        finally:
            telemetry.use_tracer_provider(None)
            http.stop()
            local.stop()
    assert response.status_code == 200, response.text
    assert os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") is None  # spans went to the in-memory exporter only
    finished = exporter.get_finished_spans()
    (request,) = [s for s in finished if s.name == "switchboard request"]
    tiers = [s for s in finished if s.name.startswith("switchboard tier")]
    judges = [s for s in finished if s.name.startswith("switchboard judge")]
    assert tiers and judges  # the auto plan's first tier ran with its judges
    trace_id = request.context.trace_id
    assert {s.context.trace_id for s in finished} == {trace_id}
    assert {s.parent.span_id for s in tiers + judges} == {request.context.span_id}
