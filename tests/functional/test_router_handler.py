"""The router Lambda's HTTP contract, on the sample events, with in-memory fakes behind the service."""

from __future__ import annotations

import json

import pytest

from functions.router import handler as router
from switchboard import composition
from switchboard.composition import Container, Parts
from switchboard.domain.judging import Calibration, JudgePolicy
from switchboard.domain.taxonomy import Category
from switchboard.local.emulator import LocalLambdaContext
from switchboard.ports import ProviderTimeout
from switchboard.service.settings import RouterSettings
from tests.support.builder import build_services
from tests.support.events import load_event
from tests.support.fakes import (
    InMemoryTaxonomy,
    InMemoryTraces,
    ScriptedProvider,
    ScriptedProviders,
    catalog_entry,
)

SETTINGS = RouterSettings(traces_table="t", catalog_table="c", taxonomy_table="x", state_machine_arn="arn",
                          max_prompt_chars=2000)


def judge_says(verdict: str, answer: str = "4"):
    """A provider that answers questions with ``answer`` and judge prompts with ``verdict``."""
    def reply(messages):
        last = messages[-1].content
        return f"VERDICT: {verdict}" if "<<<ANSWER" in last else answer
    return ScriptedProvider(reply)


# Judges measured on these two models (as `switchboard train` fits them from collected verdicts): a stated
# CORRECT from both means P(correct) 0.9, anything less 0.2.
MEASURED = JudgePolicy(judges=["self_verify", "llm_judge"], threshold=0.6,
                       calibration={m: Calibration(xs=[0.0, 0.99, 1.0], ys=[0.2, 0.2, 0.9]) for m in ("small", "big")})


def make(small=None, big=None, traces=None, fail_with=None, judges=MEASURED, keys=None, catalog=None):
    catalog = catalog if catalog is not None else [catalog_entry("small", price=0.1), catalog_entry("big", price=5.0)]
    providers = ScriptedProviders({"small": small or judge_says("CORRECT"), "big": big or judge_says("CORRECT")})
    taxonomy = InMemoryTaxonomy([Category(name="code", centroid=[1, 0, 0, 0, 0, 0, 0, 0], tiers=["small", "big"]),
                                 Category(name="math", centroid=[0, 1, 0, 0, 0, 0, 0, 0], tiers=["big"])])
    services = build_services(catalog, providers=providers, traces=traces or InMemoryTraces(), taxonomy=taxonomy,
                              fail_with=fail_with, new_id=lambda: "trace-1", keys=keys,
                              max_prompt_chars=SETTINGS.max_prompt_chars, judge_policy=judges)
    composition.use(Container(Parts(services=services, router_settings=SETTINGS)))
    return services


@pytest.fixture(autouse=True)
def _reset():
    yield
    composition.reset()


def call(event):
    response = router.lambda_handler(event, LocalLambdaContext(function_name="router"))
    return response["statusCode"], json.loads(response["body"])


def test_chat_completion_answers_with_switchboard_extension():
    make()
    status, body = call(load_event("router", "chat_completion"))
    assert status == 200
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"] == "4"
    sb = body["switchboard"]
    assert sb["route"] == "taxonomy" and sb["category"] == "code"
    assert sb["decision"]["action"] == "accept" and sb["verified"] is True
    assert sb["confidence"] == pytest.approx(0.9)  # the measured P(correct), not the raw vote
    assert sb["answered_by"] == {"model": "small", "tier": 0}
    assert [v["kind"] for v in sb["tiers"][0]["verdicts"]] == ["self_verify", "llm_judge"]
    assert sb["cost_usd"] > 0


def test_judges_of_unknown_accuracy_never_verify_an_answer():
    make(judges=None)
    status, body = call(load_event("router", "chat_completion"))
    sb = body["switchboard"]
    assert status == 200 and body["choices"][0]["message"]["content"] == "4"
    assert sb["decision"]["action"] == "accept" and sb["decision"]["reason"] == "confident_unmeasured"
    assert sb["verified"] is False


def test_unconfident_judges_escalate_to_the_stronger_model():
    make(small=judge_says("INCORRECT", answer="5"), big=judge_says("INCORRECT", answer="4"))
    status, body = call(load_event("router", "chat_completion"))
    assert status == 200
    sb = body["switchboard"]
    assert [t["model"] for t in sb["tiers"]] == ["small", "big"]
    assert sb["decision"]["action"] == "stop" and sb["verified"] is False


def test_first_tier_timeout_falls_through_to_next_tier_and_is_traced():
    svc = make(small=ScriptedProvider(error=ProviderTimeout("no answer in 60 s")))
    status, body = call(load_event("router", "chat_completion"))
    assert status == 200 and body["model"] == "big"
    failed = body["switchboard"]["tiers"][0]
    assert failed["status"] == "failed" and failed["error"].startswith("ProviderTimeout")
    assert svc.traces.get("trace-1").state.attempts[0].error.startswith("ProviderTimeout")


def test_every_tier_failing_is_a_502_with_the_trace_id():
    make(small=ScriptedProvider(error=ProviderTimeout("t")), big=ScriptedProvider(error=ProviderTimeout("t")))
    status, body = call(load_event("router", "chat_completion"))
    assert status == 502 and body["error"]["trace_id"] == "trace-1"


def test_failed_execution_is_a_502_and_leaves_a_failure_trace():
    svc = make(fail_with="States.Runtime")
    status, body = call(load_event("router", "chat_completion"))
    assert status == 502 and body["error"]["trace_id"] == "trace-1" and "see the trace" in body["error"]["message"]
    trace = svc.traces.get("trace-1")
    assert trace.status == "failed" and "States.Runtime" in trace.error  # the why is in the trace, not the reply


@pytest.mark.parametrize("scenario,status,fragment", [
    ("malformed_json", 400, "not valid JSON"),
    ("missing_messages", 400, "messages"),
    ("empty_user_message", 400, "non-empty user message"),
    ("unknown_model", 404, "unknown model 'gpt-9-ultra'"),
])
def test_bad_requests_get_a_4xx_with_a_message(scenario, status, fragment):
    make()
    got, body = call(load_event("router", scenario))
    assert got == status
    assert fragment in body["error"]["message"]


def test_oversized_prompt_is_413():
    make()
    event = load_event("router", "chat_completion")
    event["body"] = json.dumps({"messages": [{"role": "user", "content": "x" * 5000}]})
    status, body = call(event)
    assert status == 413 and "limit is 2000" in body["error"]["message"]


def test_non_text_parts_are_rejected_clearly():
    make()
    event = load_event("router", "chat_completion")
    event["body"] = json.dumps({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})
    status, body = call(event)
    assert status == 400 and "image_url" in body["error"]["message"]


def test_trace_round_trip_and_feedback():
    make()
    call(load_event("router", "chat_completion"))
    event = load_event("router", "get_trace")
    event["path"] = "/v1/traces/trace-1"
    status, body = call(event)
    assert status == 200 and body["trace_id"] == "trace-1" and body["status"] == "succeeded"
    fb = load_event("router", "feedback")
    fb["body"] = json.dumps({"trace_id": "trace-1", "score": 0.0})
    assert call(fb) == (200, {"trace_id": "trace-1", "stored": True})
    assert call(load_event("router", "feedback"))[0] == 404  # unknown trace id
    assert call(load_event("router", "get_trace"))[0] == 404


def test_store_outage_is_a_503_not_a_stack_trace():
    make(traces=InMemoryTraces(fail=True))
    status, body = call(load_event("router", "get_trace"))
    assert status == 503 and "Traceback" not in json.dumps(body)


def test_unknown_route_is_404():
    make()
    event = load_event("router", "get_trace")
    event["path"], event["httpMethod"] = "/v2/nothing", "GET"
    assert call(event)[0] == 404


def _header(response: dict, name: str) -> str | None:
    """A header of a REST API proxy response (Powertools answers with multiValueHeaders)."""
    single = response.get("headers") or {}
    multi = response.get("multiValueHeaders") or {}
    return single.get(name) or (multi.get(name) or [None])[0]


def test_stream_true_answers_with_server_sent_events_of_the_accepted_answer():
    make()
    event = load_event("router", "chat_completion")
    body = json.loads(event["body"])
    event["body"] = json.dumps({**body, "stream": True, "stream_options": {"include_usage": True}})
    response = router.lambda_handler(event, LocalLambdaContext(function_name="router"))
    assert response["statusCode"] == 200
    assert _header(response, "Content-Type") == "text/event-stream"
    events = [line[len("data: "):] for line in response["body"].split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "4"
    final = next(c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"])
    assert final["switchboard"]["verified"] is True
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_models_and_health():
    make()
    event = load_event("router", "get_trace")
    for path, check in (("/v1/models", lambda b: {"auto", "small", "big"} <= {m["id"] for m in b["data"]}),
                        ("/health", lambda b: b["status"] == "ok" and b["models"] == 2)):
        status, body = call({**event, "path": path, "resource": path, "pathParameters": None})
        assert status == 200 and check(body), body


def test_health_is_503_with_retry_after_until_there_is_a_model():
    make(catalog=[])
    event = load_event("router", "get_trace")
    response = router.lambda_handler({**event, "path": "/health", "resource": "/health", "pathParameters": None},
                                     LocalLambdaContext(function_name="router"))
    assert response["statusCode"] == 503 and _header(response, "Retry-After") == "5"
    assert json.loads(response["body"])["error"]["code"] == "not_ready"


def test_required_keys_guard_every_route_but_health_and_openapi():
    from switchboard.service.api_keys import KeyService, new_key
    from tests.support.fakes import InMemoryKeys

    store = InMemoryKeys()
    secret, key = new_key("svc", 1.0)
    store.create(key)
    make(keys=KeyService(store, required=True))
    for scenario in ("chat_completion", "get_trace", "feedback"):
        status, body = call(load_event("router", scenario))
        assert status == 401 and body["error"]["code"] == "invalid_api_key", scenario
    models = {**load_event("router", "get_trace"), "path": "/v1/models", "resource": "/v1/models",
              "pathParameters": None}
    assert call(models)[0] == 401
    for path in ("/health", "/openapi.json"):
        assert call({**models, "path": path, "resource": path})[0] == 200, path
    event = load_event("router", "chat_completion")
    event["headers"] = {**(event.get("headers") or {}), "Authorization": f"Bearer {secret}"}
    status, body = call(event)
    assert status == 200 and store.all()[0].spent_usd == pytest.approx(body["switchboard"]["cost_usd"])


def test_an_async_route_request_is_a_job_read_back_until_done():
    make(small=judge_says("CORRECT"))
    event = load_event("router", "route")
    event["body"] = json.dumps({**json.loads(event["body"]), "async": True})
    response = router.lambda_handler(event, LocalLambdaContext(function_name="router"))
    assert response["statusCode"] == 202
    job = json.loads(response["body"])
    location = (response.get("headers") or {}).get("Location") or response["multiValueHeaders"]["Location"][0]
    assert job["object"] == "job" and job["status"] == "running" and location == f"/v1/jobs/{job['id']}"
    get = {**load_event("router", "get_trace"), "path": f"/v1/jobs/{job['id']}", "resource": "/v1/jobs/{job_id}",
           "pathParameters": {"job_id": job["id"]}}
    status, body = call(get)
    # the in-process orchestrator runs a job to its end at once: the record step stored the finished trace
    assert status == 200 and body["status"] == "succeeded" and body["result"]["answer"] == "4"
    assert body["result"]["trace_id"] == job["trace_id"]
    missing = {**get, "path": "/v1/jobs/nope", "pathParameters": {"job_id": "nope"}}
    assert call(missing)[0] == 404


def test_async_is_refused_on_chat_completions_and_with_a_budgeted_key():
    from switchboard.service.api_keys import KeyService, new_key
    from tests.support.fakes import InMemoryKeys

    store = InMemoryKeys()
    secret, key = new_key("svc", 1.0)
    store.create(key)
    make(keys=KeyService(store, required=False))
    event = load_event("router", "chat_completion")
    event["body"] = json.dumps({**json.loads(event["body"]), "async": True})
    status, body = call(event)
    assert status == 400 and body["error"]["param"] == "async"
    event = load_event("router", "route")
    event["body"] = json.dumps({**json.loads(event["body"]), "async": True})
    event["headers"] = {**(event.get("headers") or {}), "Authorization": f"Bearer {secret}"}
    status, body = call(event)
    assert status == 400 and body["error"]["param"] == "async" and store.all()[0].spent_usd == 0.0


def test_a_job_running_long_past_its_deadline_is_reported_failed():
    import time as _time

    from switchboard.domain.requests import ChatRequest, Message
    from switchboard.domain.state import CascadeState
    from switchboard.ports import Trace
    from switchboard.service.jobs import JOB_GRACE_S

    svc = make()
    request = ChatRequest(messages=[Message(role="user", content="q")])
    state = CascadeState(request_id="stale", request=request, plan=svc.planner.plan(request),
                         deadline=_time.time() - JOB_GRACE_S - 1)
    svc.traces.put(Trace(trace_id="stale", created_at="then", status="running", state=state))
    get = {**load_event("router", "get_trace"), "path": "/v1/jobs/stale", "resource": "/v1/jobs/{job_id}",
           "pathParameters": {"job_id": "stale"}}
    status, body = call(get)
    assert status == 200 and body["status"] == "failed" and "without recording a result" in body["error"]["message"]


def _post(path: str, body: dict) -> dict:
    event = load_event("router", "chat_completion")
    return {**event, "path": path, "resource": path, "body": json.dumps(body),
            "requestContext": {**event["requestContext"], "resourcePath": path, "path": path}}


def test_requests_handled_at_once_on_threads_never_see_each_others_event():
    """Powertools keeps the current event on the resolver's class; the handler gives every thread its own
    resolver with the event pinned on it. A chat completion that fails slowly (its model sleeps, then
    errs) while an Anthropic /v1/messages request is handled on another thread still gets OpenAI's error
    shape for its own path - and the messages request Anthropic's answer shape."""
    import threading
    import time as _time

    started = threading.Event()

    def slow_failure(messages):
        started.set()
        _time.sleep(0.5)
        raise ProviderTimeout("slow and broken")

    make(small=ScriptedProvider(slow_failure), big=ScriptedProvider(slow_failure))
    results: dict[str, tuple[int, dict]] = {}
    chat = threading.Thread(target=lambda: results.__setitem__("chat", call(_post("/v1/chat/completions", {
        "model": "small", "messages": [{"role": "user", "content": "hi"}]}))))
    chat.start()
    assert started.wait(10)
    make()  # the second request is served by a healthy service
    results["messages"] = call(_post("/v1/messages", {"model": "big", "max_tokens": 8,
                                                      "messages": [{"role": "user", "content": "hi"}]}))
    chat.join(30)
    status, body = results["chat"]
    assert status == 502 and set(body) == {"error"} and "trace_id" in body["error"]  # OpenAI's shape
    status, body = results["messages"]
    assert status == 200 and body["type"] == "message" and body["content"][0] == {"type": "text", "text": "4"}


def test_the_web_adapter_server_serves_the_same_handler_and_streams_events():
    """switchboard:streaming runs router/run.sh -> router.serve: an HTTP server over this process's
    handler (the Lambda Web Adapter forwards each invocation to it). Its readiness path, a buffered
    request and a streamed one, on loopback."""
    import httpx

    from functions.router.serve import InProcessRouter
    from switchboard.http.server import LocalServer
    from switchboard.local.emulator import free_port

    make()
    server = LocalServer(InProcessRouter("router"), port=free_port()).start_background()
    try:
        assert httpx.get(f"{server.url}/openapi.json", timeout=10).status_code == 200  # AWS_LWA_READINESS_CHECK_PATH
        body = {"model": "auto", "max_tokens": 8, "messages": [{"role": "user", "content": "def f(): pass"}]}
        plain = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=30)
        assert plain.status_code == 200 and plain.json()["choices"][0]["message"]["content"] == "4"
        with httpx.stream("POST", f"{server.url}/v1/chat/completions", json={**body, "stream": True},
                          timeout=30) as streamed:
            assert streamed.headers["content-type"].startswith("text/event-stream")
            lines = [line for line in streamed.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]" and any('"content":"4"' in line for line in lines)
        refused = httpx.post(f"{server.url}/v1/chat/completions", json={**body, "stream": True, "top_p": 0.1},
                             timeout=30)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "top_p"
    finally:
        server.stop()


def _ask(content: str):
    event = load_event("router", "chat_completion")
    body = json.loads(event["body"])
    body["messages"][0]["content"] = content
    return call({**event, "body": json.dumps(body)})


def test_a_policy_measured_per_region_verifies_only_prompts_like_those_it_was_measured_on():
    """Judges calibrated on code-like prompts (a region around the encoder's code axis): a code question
    is judged with that calibration and can be verified; a question like none of the measured prompts is
    judged uncalibrated and never verified. The trace names the region that applied."""
    from switchboard.domain.judging import JudgeRegion

    calibrated = Calibration(xs=[0.0, 0.99, 1.0], ys=[0.2, 0.2, 0.9])
    code_axis = [1.0] + [0.0] * 7
    policy = JudgePolicy(judges=["self_verify", "llm_judge"], threshold=0.6,
                         measured={"train_auroc": {"small": 0.55, "big": 0.55}},
                         regions=[JudgeRegion(name="code", centroid=code_axis, min_similarity=0.85,
                                              calibration={"small": calibrated, "big": calibrated}, threshold=0.6,
                                              measured={"train_auroc": {"small": 0.8, "big": 0.8}})])
    make(judges=policy)
    status, body = _ask("Write a Python function that returns the sum of a list.")
    assert status == 200
    assert body["switchboard"]["judge_region"] == "code" and body["switchboard"]["verified"] is True
    status, body = _ask("Tell me about the weather in Lima")
    assert status == 200
    assert body["switchboard"]["judge_region"] is None and body["switchboard"]["verified"] is False
    assert body["switchboard"]["decision"]["reason"] == "confident_unmeasured"
    # a pinned model asked to be verified is judged by the region its prompt falls in too; unasked, it is one
    # call, accepted unjudged
    event = load_event("router", "chat_completion")
    pinned = json.loads(event["body"])
    pinned["model"] = "big"
    status, body = call({**event, "body": json.dumps({**pinned, "switchboard": {"verify": True}})})
    assert status == 200 and body["switchboard"]["judge_region"] == "code" and body["switchboard"]["verified"] is True
    status, body = call({**event, "body": json.dumps(pinned)})
    assert status == 200 and body["switchboard"]["verified"] is False
    assert body["switchboard"]["decision"]["reason"] == "unjudged" and body["switchboard"]["tiers"][0]["verdicts"] == []


def test_an_environment_initialised_ahead_of_traffic_loads_the_encoder_at_init(monkeypatch):
    """Provisioned concurrency and SnapStart run init before any request: the router loads the encoder
    then (into the environment or the snapshot); on demand it waits for a request."""
    from switchboard.adapters import encoder

    make()
    monkeypatch.setattr(encoder, "_DEFAULT", None)
    assert composition.warm_ahead_of_traffic("on-demand") is False and encoder._DEFAULT is None
    for kind in composition.AHEAD_OF_TRAFFIC:
        monkeypatch.setattr(encoder, "_DEFAULT", None)
        assert composition.warm_ahead_of_traffic(kind) is True and encoder._DEFAULT is not None


def test_a_failed_warm_up_at_init_is_left_to_the_first_request():
    class Broken(Container):
        def services(self):
            raise RuntimeError("no table")

    composition.use(Broken(Parts(router_settings=SETTINGS)))
    assert composition.warm_ahead_of_traffic("provisioned-concurrency") is False  # logged; init goes on
    assert composition.warm_ahead_of_traffic("snap-start") is True  # the snapshot takes no AWS client


def _as(event: dict, identity: dict) -> dict:
    return {**event, "requestContext": {**event["requestContext"], "identity": {**event["requestContext"]["identity"],
                                                                                 **identity}}}


def _list_traces() -> dict:
    event = load_event("router", "get_trace")
    return {**event, "path": "/v1/traces", "resource": "/v1/traces", "pathParameters": None,
            "requestContext": {**event["requestContext"], "resourcePath": "/v1/traces", "path": "/v1/traces",
                               "httpMethod": "GET"}}


@pytest.mark.parametrize("identity", [{"userArn": "arn:aws:iam::123456789012:user/{name}"}, {"apiKeyId": "{name}"}],
                         ids=["iam", "api_key"])
def test_without_bearer_keys_the_caller_api_gateway_authenticated_owns_its_traces(identity):
    """apiAuth "iam" or "api_key": API Gateway authenticated the caller, and no Switchboard key was sent. Its
    traces are its own: another IAM principal or API Gateway key does not list them, nor does an anonymous
    caller."""
    ids = iter(f"trace-{n}" for n in range(10))
    services = make()
    services.runner.deadlines.new_id = lambda: next(ids)
    alice = {k: v.format(name="alice") for k, v in identity.items()}
    bob = {k: v.format(name="bob") for k, v in identity.items()}
    assert call(_as(load_event("router", "chat_completion"), alice))[0] == 200
    assert call(_as(load_event("router", "chat_completion"), bob))[0] == 200
    assert call(load_event("router", "chat_completion"))[0] == 200  # nobody authenticated
    listed = {who: [t["trace_id"] for t in call(_as(_list_traces(), seen) if seen else _list_traces())[1]["data"]]
              for who, seen in (("alice", alice), ("bob", bob), ("anonymous", None))}
    assert listed == {"alice": ["trace-0"], "bob": ["trace-1"], "anonymous": ["trace-2"]}
    owner = next(iter(alice.values()))
    assert services.traces.get("trace-0").state.request.key_id.endswith(owner)


@pytest.mark.parametrize("behind_adapter", [True, False], ids=["web-adapter", "elsewhere"])
def test_under_the_web_adapter_the_caller_is_read_from_its_request_context_header_and_nowhere_else(behind_adapter):
    """switchboard:streaming: API Gateway's request context (the IAM caller) reaches the server in the Web
    Adapter's x-amzn-request-context header, for the buffered and the streamed paths alike. A server not
    behind the adapter (switchboard local) ignores the header, which any client could send."""
    import httpx

    from functions.router.serve import InProcessRouter
    from switchboard.http.server import LocalServer
    from switchboard.local.emulator import free_port

    ids = iter(f"trace-{n}" for n in range(10))
    services = make()
    services.runner.deadlines.new_id = lambda: next(ids)
    alice = {"x-amzn-request-context": json.dumps({"identity": {"userArn": "arn:aws:iam::123456789012:user/alice"}})}
    server = LocalServer(InProcessRouter("router"), port=free_port(), behind_web_adapter=behind_adapter)
    server.start_background()
    try:
        body = {"model": "auto", "max_tokens": 8, "messages": [{"role": "user", "content": "def f(): pass"}]}
        assert httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=alice, timeout=30).status_code == 200
        with httpx.stream("POST", f"{server.url}/v1/chat/completions", json={**body, "stream": True}, headers=alice,
                          timeout=30) as streamed:
            assert streamed.status_code == 200 and list(streamed.iter_lines())
        owners = {t: services.traces.get(t).state.request.key_id for t in ("trace-0", "trace-1")}
        listed = httpx.get(f"{server.url}/v1/traces", headers=alice, timeout=30).json()["data"]
    finally:
        server.stop()
    expected = "iam:arn:aws:iam::123456789012:user/alice" if behind_adapter else None
    assert owners == {"trace-0": expected, "trace-1": expected}
    assert sorted(t["trace_id"] for t in listed) == ["trace-0", "trace-1"]  # alice's own (or, ignored, everyone's)
