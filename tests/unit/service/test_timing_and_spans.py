"""Per-stage timing and OpenTelemetry spans of a cascade run in this process (the same task functions as the
state machine's): the stages a request went through, in the response and the trace; the GenAI spans an SDK
provider receives; and that timing changes no decision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from switchboard.domain.cascade import run
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import CascadeState
from switchboard.domain.timing import Stage, append, fold_tier
from switchboard.http.rendering import chat_completion_response
from switchboard.service import telemetry
from switchboard.service.tasks import execute_tier, run_in_process
from switchboard.service.traces import stage_metrics
from tests.support.fakes import InMemoryTraces, ScriptedProvider
from tests.support.two_tier import Source, ask_two_tier, entries, reply, two_tier_services


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use_tracer_provider(provider)
    try:
        yield exporter
    finally:
        telemetry.use_tracer_provider(None)


def test_every_stage_of_a_two_tier_cascade_is_timed_in_order_with_its_queueing_gap() -> None:
    traces = InMemoryTraces()
    state = ask_two_tier(two_tier_services(traces))
    assert len(state.attempts) == 2
    stages = state.timing.stages
    kinds = [s.stage for s in stages]
    assert kinds[:3] == ["admit", "route", "start"]
    assert stages[0].auth_ms is not None and stages[0].auth_ms <= stages[0].ms  # the caller's authentication
    assert kinds[-1] == "return"
    tiers = [s for s in stages if s.stage == "tier"]
    assert [(t.tier, t.model) for t in tiers] == [(0, "small"), (1, "big")]
    assert all(t.model_ms is not None and t.model_ms <= t.ms for t in tiers)
    judges = [s for s in stages if s.stage == "judge"]
    assert judges and all(j.tier in (0, 1) and j.judge and j.queue_ms is not None for j in judges)
    assert [s.tier for s in stages if s.stage == "decide"] == [0, 1]
    assert kinds.index("decide") > max(i for i, k in enumerate(kinds) if k == "judge" and stages[i].tier == 0)
    assert all(s.ms is not None and s.ms >= 0 for s in stages)
    assert stages[2].ms is not None and tiers[0].queue_ms == 0.0  # start lasts until the first task
    assert all(s.queue_ms is not None for s in stages if s.stage not in ("admit",))
    route = stages[1]
    assert route.plan_ms is not None and route.plan_ms <= route.ms
    assert state.timing.total_ms >= sum(s.ms for s in stages if s.stage in ("admit", "route")) - 0.2
    # the trace holds the same stages, up to the record stage (left open: its write cannot time itself)
    stored = traces.get(state.request_id).state.timing.stages
    assert [s.stage for s in stored][-1] == "record" and stored[-1].ms is None
    assert [s.stage for s in stored[:-1]] == kinds[:-1]


def test_the_response_carries_the_timing_in_milliseconds_without_wall_clock_times() -> None:
    body = chat_completion_response(ask_two_tier(two_tier_services()))
    timing = body["switchboard"]["timing"]
    assert timing["total_ms"] > 0
    first_tier = next(s for s in timing["stages"] if s["stage"] == "tier")
    assert set(first_tier) == {"stage", "ms", "queue_ms", "tier", "model", "model_ms"}
    assert all("at" not in s for s in timing["stages"])
    assert all("stage" not in v for t in body["switchboard"]["tiers"] for v in t["verdicts"])


def test_timing_changes_no_decision_the_cascade_engine_takes_the_same_path() -> None:
    services = two_tier_services()
    planned = services.chat.planner.plan(ChatRequest(messages=[Message(role="user", content="What is 2+2?")],
                                                     max_tokens=16))
    start = CascadeState(request_id="r", request=ChatRequest(messages=[Message(role="user", content="What is 2+2?")],
                                                             max_tokens=16), plan=planned)
    catalog = {e.model_id: e for e in entries()}
    providers = Source({e.model_id: ScriptedProvider(reply) for e in entries()})
    timed = run_in_process(start, catalog, providers)
    from switchboard.domain.cascade import TierOutcome

    plain = run(start, lambda s: TierOutcome.from_current(execute_tier(s, catalog, providers)))
    assert timed.decision == plain.decision and timed.spent_usd == pytest.approx(plain.spent_usd)
    assert [(a.model, a.confidence, [v.score for v in a.verdicts]) for a in timed.attempts] == \
        [(a.model, a.confidence, [v.score for v in a.verdicts]) for a in plain.attempts]
    assert plain.timing.stages == [] and timed.timing.stages


def test_queueing_gaps_are_measured_from_what_each_stage_waited_for() -> None:
    stages = append([Stage(stage="route", at=100.0, ms=10.0)], Stage(stage="start", at=100.02))
    tier = Stage(stage="tier", at=100.1, ms=200.0)
    judges = [Stage(stage="judge", at=100.35, ms=50.0), Stage(stage="judge", at=100.32, ms=50.0)]
    out = fold_tier(stages, tier, judges)
    assert out[0].ms == 10.0 and out[1].queue_ms == 10.0 and out[1].ms == 80.0  # start: until the first task
    assert out[2].queue_ms == 0.0
    assert [(j.at, j.queue_ms) for j in out[3:]] == [(100.32, 20.0), (100.35, 50.0)]
    assert fold_tier(out, None, [])[-1] == out[-1]  # a failed tier adds nothing


def test_each_stage_is_a_metric_with_its_queue_and_model_time() -> None:
    metrics = stage_metrics([Stage(stage="admit", at=1.0, ms=2.0, queue_ms=None),
                             Stage(stage="tier", at=2.0, ms=30.0, queue_ms=4.0, model_ms=25.0),
                             Stage(stage="record", at=3.0, ms=None, queue_ms=1.0),
                             Stage(stage="return", at=4.0, ms=5.0)])
    assert metrics == [("AdmitMs", "Milliseconds", 2.0), ("TierMs", "Milliseconds", 30.0),
                       ("TierQueueMs", "Milliseconds", 4.0), ("ModelCallMs", "Milliseconds", 25.0),
                       ("RecordQueueMs", "Milliseconds", 1.0)]


def test_a_cascade_makes_genai_spans_for_the_request_each_tier_judge_and_model_call(spans) -> None:  # noqa: ANN001
    state = ask_two_tier(two_tier_services())
    finished = spans.get_finished_spans()
    by_kind: dict[str, list] = {}
    for span in finished:
        by_kind.setdefault(span.name.split(" ")[0] if span.name.startswith("chat ")
                           else span.name.split(" ")[1], []).append(span)
    (request,) = by_kind["request"]
    assert request.attributes["gen_ai.operation.name"] == "chat"
    assert request.attributes["switchboard.decision"] == f"{state.decision.action}:{state.decision.reason}"
    assert request.attributes["switchboard.verified"] is state.decision.verified
    assert request.attributes["switchboard.cost_usd"] == pytest.approx(state.spent_usd)
    assert request.attributes["gen_ai.response.model"] == "big"
    tiers = sorted(by_kind["tier"], key=lambda s: s.attributes["switchboard.tier"])
    assert [(t.attributes["switchboard.tier"], t.attributes["gen_ai.request.model"]) for t in tiers] == \
        [(0, "small"), (1, "big")]
    judges = by_kind["judge"]
    assert len(judges) == len([s for s in state.timing.stages if s.stage == "judge"])  # one per judge task
    assert all(j.attributes["switchboard.judge"] for j in judges)
    calls = by_kind["chat"]
    assert len(calls) == len(tiers) + len(judges)  # one model call per tier and per llm judge here
    for call in calls:
        a = call.attributes
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.system"] == "openai"
        assert a["gen_ai.request.model"] in ("small-v1", "big-v1") and a["gen_ai.response.model"] == a[
            "gen_ai.request.model"]
        assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
        assert a["switchboard.cost_usd"] > 0
    tier_calls = [c for c in calls if "switchboard.tier" in c.attributes]
    assert {c.parent.span_id for c in tier_calls} == {t.context.span_id for t in tiers}
    # in one process every span is the request's
    assert {s.context.trace_id for s in finished} == {request.context.trace_id}


def test_without_a_provider_the_spans_are_the_apis_no_op_ones() -> None:
    with telemetry.request_span("auto") as span:
        assert not span.is_recording()
    ask_two_tier(two_tier_services())  # and a cascade runs through them


class _Subsegment:
    def __init__(self, name: str) -> None:
        self.name, self.annotations, self.metadata = name, {}, {}

    def put_annotation(self, key: str, value) -> None:  # noqa: ANN001
        self.annotations[key] = value

    def put_metadata(self, key: str, value) -> None:  # noqa: ANN001
        self.metadata[key] = value


class _Recorder:
    def __init__(self) -> None:
        self.subsegments: list[_Subsegment] = []

    @contextmanager
    def in_subsegment(self, name: str) -> Iterator[_Subsegment]:
        self.subsegments.append(_Subsegment(name))
        yield self.subsegments[-1]


class _Tracer:  # what service.telemetry uses of Powertools' Tracer
    disabled = False

    def __init__(self) -> None:
        self.provider = _Recorder()


def test_in_lambda_every_model_call_is_an_xray_subsegment_annotated_with_model_tier_and_cost() -> None:
    tracer = _Tracer()
    telemetry.use_xray(tracer)
    try:
        state = ask_two_tier(two_tier_services())
    finally:
        telemetry.use_xray(None)
    subsegments = tracer.provider.subsegments
    tiers = [s for s in subsegments if "tier" in s.annotations]
    assert [(s.name, s.annotations["model"], s.annotations["tier"]) for s in tiers] == \
        [("## model small", "small", 0), ("## model big", "big", 1)]
    assert sum(s.annotations["cost_usd"] for s in subsegments) == pytest.approx(state.spent_usd)
    assert all(s.annotations["cost_usd"] > 0 and "judge" in s.annotations for s in subsegments if s not in tiers)


def test_a_disabled_tracer_is_not_used() -> None:
    tracer = _Tracer()
    tracer.disabled = True  # Powertools' Tracer outside Lambda, or with POWERTOOLS_TRACE_DISABLED
    telemetry.use_xray(tracer)
    try:
        ask_two_tier(two_tier_services())
    finally:
        telemetry.use_xray(None)
    assert tracer.provider.subsegments == []


def test_a_streamed_cascade_is_timed_and_is_one_request_span(spans) -> None:  # noqa: ANN001
    from switchboard.http.chat_completions import ChatCompletionRequest
    from switchboard.service.streaming import Final

    services = two_tier_services()
    request = ChatCompletionRequest.model_validate({"model": "auto", "max_tokens": 16, "stream": True,
                                                    "messages": [{"role": "user", "content": "What is 2+2?"}]})
    events = list(services.streams.stream(request.command(None, 32000)))
    final = next(e.state for e in events if isinstance(e, Final))
    assert final.timing.total_ms is not None and final.timing.total_ms > 0
    assert [s.stage for s in final.timing.stages][:3] == ["admit", "route", "start"]
    requests = [s for s in spans.get_finished_spans() if s.name == "switchboard request"]
    assert len(requests) == 1 and requests[0].attributes["switchboard.decision"] == (
        f"{final.decision.action}:{final.decision.reason}")
    # the cascade ran on another thread (no ambient context there): its spans joined the request's trace
    # through the state's traceparent
    tasks = [s for s in spans.get_finished_spans() if s.name.startswith(("switchboard tier", "switchboard judge"))]
    assert tasks and {s.context.trace_id for s in tasks} == {requests[0].context.trace_id}
    assert {s.parent.span_id for s in tasks} == {requests[0].context.span_id}


def test_a_task_in_another_process_joins_the_requests_trace_through_the_states_traceparent(spans) -> None:  # noqa: ANN001
    """A Lambda task starts with no context: its tier and judge spans take the request's from the state."""
    import threading

    from switchboard.domain.judging import JudgeSpec
    from switchboard.domain.state import Candidate, JudgeTask
    from switchboard.service.tasks import run_judge, run_tier

    services = two_tier_services()
    with telemetry.request_span("auto") as request:
        header = telemetry.traceparent()
    assert header is not None and format(request.get_span_context().trace_id, "032x") in header
    state = ask_two_tier(services).model_copy(update={"tier": 0, "traceparent": header})
    catalog = {e.model_id: e for e in entries()}
    providers = Source({model: ScriptedProvider(reply) for model in catalog})
    task = JudgeTask(judge=JudgeSpec(kind="confidence"), request=state.request,
                     candidate=Candidate(model="small", text="4"), traceparent=header)
    spans.clear()
    worker = threading.Thread(target=lambda: (run_tier(state, catalog, providers), run_judge(task, catalog, providers)))
    worker.start()
    worker.join()
    tasks = [s for s in spans.get_finished_spans() if s.name.startswith(("switchboard tier", "switchboard judge"))]
    assert len(tasks) == 2
    assert {s.context.trace_id for s in tasks} == {request.get_span_context().trace_id}
    assert {s.parent.span_id for s in tasks} == {request.get_span_context().span_id}


def test_without_spans_recorded_the_state_carries_no_trace_context() -> None:
    state = ask_two_tier(two_tier_services())
    assert state.traceparent is None and telemetry.traceparent() is None


def test_a_tier_that_failed_leaves_its_decide_timed_and_the_start_closed() -> None:
    from tests.support.builder import build_services
    from tests.support.fakes import InMemoryCatalog, flaky

    models = entries()
    services = build_services(InMemoryCatalog(models), traces=InMemoryTraces(),
                              providers=Source({"small": flaky(), "big": ScriptedProvider(reply)}))
    state = ask_two_tier(services)
    kinds = [s.stage for s in state.timing.stages]
    assert kinds[:5] == ["admit", "route", "start", "decide", "tier"]  # tier 0 failed: no tier stage of it
    assert state.attempts[0].error and state.timing.stages[3].tier == 0 and state.timing.stages[4].tier == 1
    assert all(s.ms is not None for s in state.timing.stages)
