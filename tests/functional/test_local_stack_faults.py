"""The local stack (synthesised state machine, five handlers, emulator) in front of a misbehaving upstream:
concurrent clients get no 500, deadlines hold, secrets never leave, traces survive a restart, and a
schemathesis run over the API's OpenAPI document finds no 5xx and no non-JSON body.

The models are served by a FAKE OpenAI-compatible server on loopback (``tests/support/fake_openai_server``),
through the real OpenAI-compatible adapter: fast and deterministic, with faults injected on demand.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from switchboard import composition
from switchboard.cli.stack_cmds import summary_lines
from switchboard.domain.decomposition import outline, split_reply
from switchboard.domain.requests import ChatRequest, Message
from switchboard.http.routes import document as openapi_document
from switchboard.http.server import LocalServer, api_gateway_event
from switchboard.local.emulator import free_port
from switchboard.local.stack import LocalStack, StackOptions
from switchboard.offline.compound_prompts import join
from tests.support.fake_openai_server import FakeOpenAIServer

KEY = "sk-live-do-not-leak-0123456789"
KEY_ENV = "SB_FAKE_UPSTREAM_KEY"


# The decomposer's reply to a request's outline: the split a perfect decomposer gives, for the compound
# requests a test registers (``perfect_split``); any other request's outline gets a reply that is no split.
PERFECT_SPLITS: dict[str, str] = {}


def perfect_split(prompts: list[str]) -> str:
    """A compound request of ``prompts`` (numbered), registered so that the decomposer splits it exactly."""
    compound = join(prompts, list(range(len(prompts))), "numbered")
    PERFECT_SPLITS[outline(compound.text)] = split_reply(compound.text, list(compound.ranges))
    return compound.text


def reply(body: dict) -> str:
    """Judges (their prompts fence the answer) say the answer is correct; the decomposer splits registered
    compounds exactly; everything else answers 4 - asked for JSON, the strong model in a code fence and the
    fast one in prose."""
    last = (body.get("messages") or [{}])[-1].get("content", "")
    if "<<<ANSWER" in str(last):
        return "VERDICT: CORRECT"
    fmt = body.get("response_format") or {}
    if fmt.get("json_schema", {}).get("name") == "decomposition":
        return PERFECT_SPLITS.get(str(last), "no split")
    if "capital of France" in str(last):
        return "Paris"
    if fmt.get("json_schema", {}).get("name") == "tool_calls":  # the tool-call protocol
        city = {"city": "Paris"} if body.get("model") == "strong" else {"town": "Paris"}
        return json.dumps({"tool_calls": [{"name": "get_weather", "arguments": city}]})
    if fmt:
        return '```json\n{"answer": 4}\n```' if body.get("model") == "strong" else "The answer is 4."
    if "Count to five" in str(last):
        return "one two three four five"
    return "4"


@pytest.fixture(scope="module")
def upstream():
    with FakeOpenAIServer(reply=reply, drip_s=0.3, delay_s=1.0) as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(upstream, tmp_path_factory):
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ[KEY_ENV] = KEY
    tmp = tmp_path_factory.mktemp("faults")
    catalog = tmp / "catalog.json"
    catalog.write_text(json.dumps(upstream.catalog({"fast": 0.1, "strong": 1.0}, KEY_ENV, timeout_s=3.0)))
    local = LocalStack(StackOptions(catalog_path=catalog, state_dir=tmp / "state", deadline_s=15,
                                    decomposition=True)).start()
    server = LocalServer(local, port=free_port()).start_background()
    yield local, server, catalog, tmp / "state"
    server.stop()
    local.stop()


def ask(url: str, content: str = "What is 2+2?", **extra) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": content}], "max_tokens": 8, **extra}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)


def test_concurrent_clients_against_a_faulty_upstream_get_no_500(stack, upstream):
    _, server, _, _ = stack
    upstream.behaviour, upstream.fail_rate = "flaky", 0.3
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lambda i: ask(server.url, f"What is {i} + 2?"), range(48)))
    finally:
        upstream.behaviour = "ok"
    statuses = [r.status_code for r in responses]
    assert 500 not in statuses, statuses
    assert set(statuses) <= {200, 502, 504}, statuses
    assert statuses.count(200) >= len(statuses) // 2  # faults cost some answers, not most of them
    for response in responses:
        assert response.headers["content-type"].startswith("application/json")
        assert KEY not in response.text and upstream.url not in response.text
        body = response.json()
        trace_id = body["switchboard"]["trace_id"] if response.status_code == 200 else body["error"]["trace_id"]
        trace = httpx.get(f"{server.url}/v1/traces/{trace_id}", timeout=30)
        assert trace.status_code == 200 and KEY not in trace.text and upstream.url not in trace.text
    assert any(f != "ok" for f in upstream.faults), "the upstream injected faults"


def test_a_dripping_upstream_cannot_hold_a_request_past_its_deadline(stack, upstream):
    local, server, _, _ = stack
    deadlines = composition.container().services().runner.deadlines
    upstream.behaviour, upstream.drip_s = "drip", 1.0
    saved, deadlines.request_s = deadlines.request_s, 4.0
    started = time.monotonic()
    try:
        response = ask(server.url)
    finally:
        upstream.behaviour, upstream.drip_s, deadlines.request_s = "ok", 0.3, saved
    elapsed = time.monotonic() - started
    assert elapsed < 4.0 + 3.0, elapsed  # the deadline, plus the router's own bookkeeping
    assert response.status_code in (502, 504) and response.json()["error"]["trace_id"]
    trace = httpx.get(f"{server.url}/v1/traces/{response.json()['error']['trace_id']}", timeout=30).json()
    assert trace["status"] == "failed"
    errors = " ".join(a.get("error") or "" for a in trace["state"]["attempts"])
    assert "DeadlineExceeded" in errors or "ProviderTimeout" in errors


def test_hostile_inputs_are_4xx_with_json_bodies(stack):
    _, server, _, _ = stack
    url = f"{server.url}/v1/chat/completions"
    cases = {
        "deep": b"[" * 1000 + b"]" * 1000,
        "bool max_tokens": json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": True}).encode(),
        "string stream": json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": "false"}).encode(),
        "huge": json.dumps({"messages": [{"role": "user", "content": "x" * 680_000}]}).encode(),
        "not json": b"{nope",
        "no user": json.dumps({"messages": [{"role": "system", "content": "hi"}]}).encode(),
    }
    for name, body in cases.items():
        response = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=60)
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:200])
        assert response.headers["content-type"].startswith("application/json"), name
        assert response.json()["error"]["message"], name


def test_traces_and_feedback_survive_a_restart_of_the_stack(stack, upstream):
    local, server, catalog, state = stack
    upstream.behaviour = "ok"
    response = ask(server.url)
    assert response.status_code == 200
    trace_id = response.json()["switchboard"]["trace_id"]
    assert httpx.post(f"{server.url}/v1/feedback", json={"trace_id": trace_id, "score": 0.0},
                      timeout=30).status_code == 200
    second = LocalStack(StackOptions(catalog_path=catalog, state_dir=state), template=local.template)
    local.stop()  # the first stack's process state is gone; only the journal remains
    second.start()
    try:
        assert second.restored.get("TracesTable", 0) >= 1
        event = api_gateway_event("GET", f"/v1/traces/{trace_id}", {}, b"")
        result = second.invoke_router(event)
        assert result["statusCode"] == 200
        trace = json.loads(result["body"])
        assert trace["trace_id"] == trace_id and trace["feedback"][0]["score"] == 0.0
    finally:
        second.stop()
        local.start()  # the module's stack again, for any test after this one


def test_every_stage_the_state_machine_ran_is_timed_in_the_response_and_the_trace(stack, upstream):
    _, server, _, _ = stack
    upstream.behaviour = "ok"
    response = ask(server.url)
    assert response.status_code == 200, response.text
    extension = response.json()["switchboard"]
    timing = extension["timing"]
    kinds = [s["stage"] for s in timing["stages"]]
    assert kinds[:4] == ["admit", "route", "start", "tier"] and kinds[-2:] == ["record", "return"]
    assert kinds.count("tier") == kinds.count("decide") == len(extension["tiers"])
    assert kinds.count("judge") >= sum(len(t["verdicts"]) for t in extension["tiers"])
    start, tier = timing["stages"][2], timing["stages"][3]
    assert start["ms"] > 0 and tier["queue_ms"] == 0.0 and tier["model_ms"] > 0 and tier["model"] == "fast"
    assert all(s["ms"] >= 0 and s["queue_ms"] >= 0 for s in timing["stages"][1:])  # every gap measured
    assert timing["total_ms"] >= start["ms"] + tier["ms"]
    trace = httpx.get(f"{server.url}/v1/traces/{extension['trace_id']}", timeout=30).json()
    stored = trace["state"]["timing"]["stages"]
    assert [s["stage"] for s in stored] == kinds[:-1]  # up to the record stage, open in the trace it writes
    assert stored[-1]["ms"] is None and all(s["at"] > 0 for s in stored)


def test_concurrent_requests_on_a_key_never_spend_past_its_budget(stack, upstream):
    import boto3

    from switchboard import envvars as names
    from switchboard.adapters.stores.dynamo_keys import DynamoKeys
    from switchboard.service.api_keys import new_key

    local, server, _, _ = stack
    upstream.behaviour = "ok"
    client = boto3.client("dynamodb", endpoint_url=local.environment["AWS_ENDPOINT_URL_DYNAMODB"],
                          region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    store = DynamoKeys(local.environment[names.ENV_KEYS_TABLE], client=client)
    plan = composition.container().services().planner.plan(
        ChatRequest(messages=[Message(role="user", content="What is 2+2?")], max_tokens=8))
    budget = 2.5 * sum(t.est_cost_usd for t in plan.tiers)  # two whole plans' bounds, then only part of one
    secret, key = new_key("faults", budget)
    store.create(key)

    def call(_: int, headers: dict | None = None) -> httpx.Response:
        return httpx.post(f"{server.url}/v1/chat/completions", timeout=120,
                          headers={"Authorization": f"Bearer {secret}"} if headers is None else headers,
                          json={"model": "auto", "max_tokens": 8, "messages": [{"role": "user", "content": "What is 2+2?"}]})

    # enough requests that, however they interleave, their spend would pass the budget if all were let in
    spent_each = call(0, headers={}).json()["switchboard"]["cost_usd"]  # one request's spend, without the key
    count = int(budget / spent_each) + 6
    assert count <= 200, (budget, spent_each)
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(call, range(count)))
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 429} and 200 in codes and 429 in codes, codes
    refused = next(r for r in responses if r.status_code == 429).json()["error"]
    assert refused["code"] == "insufficient_quota" and "budget" in refused["message"]
    stored = store.get(key.key_hash)
    billed = sum(r.json()["switchboard"]["cost_usd"] for r in responses if r.status_code == 200)
    assert stored.spent_usd <= budget and stored.spent_usd == pytest.approx(billed, rel=1e-6, abs=1e-9)
    assert stored.available_usd == pytest.approx(budget - stored.spent_usd, abs=1e-9)
    wrong = httpx.post(f"{server.url}/v1/chat/completions", timeout=30, headers={"Authorization": "Bearer sb-wrong"},
                       json={"messages": [{"role": "user", "content": "What is 2+2?"}]})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"


def test_an_async_route_request_runs_as_a_job_on_the_state_machine(stack, upstream):
    _, server, _, _ = stack
    upstream.behaviour = "ok"
    started = httpx.post(f"{server.url}/v1/route", timeout=30, json={
        "async": True, "max_tokens": 8, "messages": [{"role": "user", "content": "What is 2+2?"}]})
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["status"] == "running" and started.headers["location"] == f"/v1/jobs/{job['id']}"
    deadline = time.time() + 90
    while True:
        polled = httpx.get(f"{server.url}/v1/jobs/{job['id']}", timeout=30)
        assert polled.status_code == 200
        if polled.json()["status"] != "running" or time.time() > deadline:
            break
        time.sleep(0.5)
    done = polled.json()
    assert done["status"] == "succeeded", done
    assert done["result"]["answer"] == "4" and done["result"]["trace_id"] == job["trace_id"]
    trace = httpx.get(f"{server.url}/v1/traces/{job['trace_id']}", timeout=30).json()
    assert trace["status"] == "succeeded"


def _served_models(local: LocalStack) -> set[str]:
    result = local.invoke_router(api_gateway_event("GET", "/v1/models", {}, b""))
    assert result["statusCode"] == 200
    return {m["id"] for m in json.loads(result["body"])["data"]}


def test_a_stack_serves_its_own_state_never_a_previous_stacks(stack, upstream, tmp_path):
    # moto keeps resources in process-global backends: a stack started after another in the same process
    # must not see the first one's catalogue, taxonomy or policy.
    local, _, catalog, _ = stack
    other_catalog = tmp_path / "catalog.json"
    other_catalog.write_text(json.dumps([{**entry, "model_id": "elsewhere"}
                                         for entry in json.loads(catalog.read_text())[:1]]))
    local.stop()
    other = LocalStack(StackOptions(catalog_path=other_catalog, state_dir=tmp_path / "state"), template=local.template)
    other.start()
    try:
        served = _served_models(other)
        assert "elsewhere" in served and not {"fast", "strong"} & served
    finally:
        other.stop()
        local.start()
    served = _served_models(local)
    assert {"fast", "strong"} <= served and "elsewhere" not in served


SCHEMA = schemathesis.openapi.from_dict(openapi_document())


@SCHEMA.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_requests_never_get_a_5xx_or_a_body_that_is_not_json(case, stack, upstream):
    from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

    _, server, _, _ = stack
    upstream.behaviour = "ok"
    response = case.call(base_url=server.url, timeout=120)
    content_type = (response.headers.get("content-type") or [""])[0]
    if response.status_code == 200 and content_type.startswith("text/event-stream"):
        assert isinstance(case.body, dict) and case.body.get("stream") is True
        # each API's end of a stream: chat completions' [DONE], messages' message_stop, the Responses API's
        # response.completed (or its error event, when it failed after the stream began)
        ends = ("data: [DONE]", "event: message_stop", "event: response.completed", "event: error")
        assert any(end in response.text for end in ends), response.text[-300:]
        return
    assert content_type.startswith("application/json"), (case.method, case.path, response.status_code, response.text[:200])
    body = json.loads(response.text)
    error = body.get("error") if isinstance(body, dict) else None
    if response.status_code == 502 and isinstance(error, dict) and (
            "response_format" in error.get("message", "") or "tools:" in error.get("message", "")):
        # a random schema the FAKE model cannot meet: every answer was checked and refused - reported with
        # the trace, as a model's failure is; not a fault of the service
        assert error.get("trace_id")
        return
    case.validate_response(response, checks=[not_a_server_error, content_type_conformance,
                                              response_schema_conformance])


def test_the_openai_sdk_streams_the_accepted_answer_and_lists_the_models(stack):
    import openai

    _, server, _, _ = stack
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused-locally", max_retries=0)
    chunks = list(client.chat.completions.create(
        model="auto", max_tokens=8, messages=[{"role": "user", "content": "What is 2+2?"}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "4"
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].model_extra["switchboard"]["trace_id"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    models = {m.id for m in client.models.list()}
    assert {"auto", "fast", "strong"} <= models
    assert httpx.get(f"{server.url}/health", timeout=10).json()["status"] == "ok"
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="auto", max_tokens=8, top_p=0.5,
                                       messages=[{"role": "user", "content": "What is 2+2?"}])
    assert refused.value.body["param"] == "top_p"


def test_a_json_response_format_returns_json_or_an_error_never_prose(stack):
    """The fast model answers in prose: its tier fails the format check (paid for, recorded) and the cascade
    falls through to the strong one, whose fenced JSON comes back as the JSON alone. A schema no model meets
    is a 502 naming response_format, with the trace."""
    import openai

    _, server, _, _ = stack
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused-locally", max_retries=0)
    messages = [{"role": "user", "content": "What is 2+2? Answer in JSON."}]
    reply_ = client.chat.completions.create(model="auto", max_tokens=16, messages=messages,
                                            response_format={"type": "json_object"})
    assert json.loads(reply_.choices[0].message.content) == {"answer": 4}
    sb = reply_.model_extra["switchboard"]
    assert sb["answered_by"]["model"] == "strong"
    rejected = [t for t in sb["tiers"] if t["status"] == "rejected"]
    assert [t["model"] for t in rejected] == ["fast"] and "not JSON" in rejected[0]["error"]
    assert rejected[0]["cost_usd"] > 0
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(model="auto", max_tokens=16, messages=messages, response_format={
            "type": "json_schema", "json_schema": {"name": "place", "schema": schema}})
    assert failed.value.status_code == 502 and "response_format" in failed.value.body["message"]
    assert "city" in failed.value.body["message"] and failed.value.body.get("trace_id")


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather of a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"], "additionalProperties": False}}}


def test_tools_come_back_as_openai_tool_calls_whose_arguments_match_the_schema(stack):
    """The fast model calls the tool with arguments its schema refuses: rejected, and the strong model's
    valid call is returned as OpenAI tool_calls - also streamed, as the SDK accumulates them."""
    import openai

    _, server, _, _ = stack
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused-locally", max_retries=0)
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    reply_ = client.chat.completions.create(model="auto", max_tokens=32, messages=messages, tools=[WEATHER])
    choice = reply_.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    tiers = reply_.model_extra["switchboard"]["tiers"]
    assert [t["status"] for t in tiers] == ["rejected", "answered"] and "arguments invalid" in tiers[0]["error"]
    chunks = list(client.chat.completions.create(model="auto", max_tokens=32, messages=messages, tools=[WEATHER],
                                                 stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert deltas and deltas[0].tool_calls[0].function.name == "get_weather"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    # the conversation goes on with the tool's result
    follow = client.chat.completions.create(model="auto", max_tokens=32, tools=[WEATHER], tool_choice="none", messages=[
        *messages, choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"}])
    assert follow.choices[0].finish_reason == "stop" and follow.choices[0].message.content == "4"


def test_a_pinned_model_streams_its_tokens_as_they_come_and_a_cut_stream_ends_in_an_error(stack, upstream):
    """A single-tier plan streams the model's words as the upstream sends them (one every 0.05 s), then
    the final chunk with the judges' verdicts (the request asks for them: ``switchboard.verify``); a stream cut mid-answer ends with an error the SDK raises,
    never as a short success; a model that fails before its first word is an HTTP error (502)."""
    import openai

    _, server, _, _ = stack
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused-locally", max_retries=0)
    messages = [{"role": "user", "content": "Count to five in words."}]

    def answer_calls() -> int:  # calls that asked the question itself (judges' calls end with a grader turn)
        return sum(1 for r in upstream.requests if isinstance(r.body, dict)
                   and r.body.get("messages", [{}])[-1].get("content") == "Count to five in words.")

    before = answer_calls()
    arrivals, texts, finals = [], [], []
    for chunk in client.chat.completions.create(model="strong", max_tokens=16, messages=messages, stream=True,
                                                stream_options={"include_usage": True},
                                                extra_body={"switchboard": {"verify": True}}):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter())
            texts.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason:
            finals.append(chunk)
    assert "".join(texts) == "one two three four five" and len(texts) == 5
    assert arrivals[-1] - arrivals[0] >= 0.15  # the words came as they were produced, not at once
    sb = finals[0].model_extra["switchboard"]
    assert sb["route"] == "pinned" and sb["tiers"][0]["verdicts"] and sb["trace_id"]
    trace = httpx.get(f"{server.url}/v1/traces/{sb['trace_id']}", timeout=30).json()
    assert trace["status"] == "succeeded" and trace["state"]["attempts"][0]["candidate"]["text"] == "".join(texts)
    assert trace["state"]["spent_usd"] > 0  # the streamed call is paid for once, in the trace
    assert answer_calls() - before == 1  # the cascade judged the streamed answer; it did not ask again
    try:
        upstream.behaviour = "cut_stream"
        got = []
        with pytest.raises(openai.APIError):
            for chunk in client.chat.completions.create(model="strong", max_tokens=16, messages=messages,
                                                        stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    got.append(chunk.choices[0].delta.content)
        assert got == ["one ", "two "]
        upstream.behaviour = "500"
        with pytest.raises(openai.APIStatusError) as refused:
            client.chat.completions.create(model="strong", max_tokens=16, messages=messages, stream=True)
        assert refused.value.status_code == 502
    finally:
        upstream.behaviour = "ok"


def test_langchain_and_litellm_stream_from_switchboard(stack, monkeypatch):
    """The two clients users most often put in front of a gateway: LangChain's ChatOpenAI(...).stream()
    and LiteLLM's completion(stream=True), pointed at the local stack by base URL - token by token for a
    pinned model, the decided answer for a cascade."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of LiteLLM's price list
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    import litellm
    from langchain_openai import ChatOpenAI

    _, server, _, _ = stack
    base = f"{server.url}/v1"
    chat = ChatOpenAI(base_url=base, api_key="unused-locally", model="strong", max_tokens=16, max_retries=0)
    pieces = [chunk.content for chunk in chat.stream("Count to five in words.")]
    assert "".join(pieces) == "one two three four five" and len([p for p in pieces if p]) == 5
    cascade = ChatOpenAI(base_url=base, api_key="unused-locally", model="auto", max_tokens=8, max_retries=0)
    assert "".join(c.content for c in cascade.stream("What is 2+2?")) == "4"
    assert cascade.invoke("What is 2+2?").content == "4"
    streamed = litellm.completion(model="openai/strong", api_base=base, api_key="unused-locally", max_tokens=16,
                                  messages=[{"role": "user", "content": "Count to five in words."}], stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
    assert text == "one two three four five"
    reply = litellm.completion(model="openai/auto", api_base=base, api_key="unused-locally", max_tokens=8,
                               messages=[{"role": "user", "content": "What is 2+2?"}])
    assert reply.choices[0].message.content == "4"


def test_concurrent_clients_each_get_the_answer_to_their_own_question(stack):
    """Requests served at once by one router (the local server's threads, one router handler) never see
    each other's body: each of 16 concurrent requests, of two kinds, gets its own kind's answer."""
    _, server, _, _ = stack
    prompts = ["Count to five in words.", "What is 2+2?"] * 8
    expected = {"Count to five in words.": "one two three four five", "What is 2+2?": "4"}

    def one(prompt: str) -> tuple[str, str]:
        body = {"model": "strong", "messages": [{"role": "user", "content": prompt}], "max_tokens": 16}
        response = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=120)
        return prompt, response.json()["choices"][0]["message"]["content"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, prompts))
    assert all(answer == expected[prompt] for prompt, answer in answers), answers


def test_the_anthropic_sdk_gets_messages_tool_use_streams_and_errors_in_its_own_shape(stack):
    """POST /v1/messages on the same cascade, through the official anthropic SDK."""
    import anthropic

    _, server, _, _ = stack
    client = anthropic.Anthropic(base_url=server.url, api_key="unused-locally", max_retries=0)
    question = [{"role": "user", "content": "What is 2+2?"}]
    message = client.messages.create(model="auto", max_tokens=16, messages=question, system="Be terse.")
    assert message.content[0].type == "text" and message.content[0].text == "4"
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0
    assert message.model_extra["switchboard"]["trace_id"]
    with client.messages.stream(model="auto", max_tokens=16, messages=question) as stream:
        assert "".join(stream.text_stream) == "4"
    weather = {"name": "get_weather", "description": "Current weather of a city",
               "input_schema": WEATHER["function"]["parameters"]}
    called = client.messages.create(model="auto", max_tokens=32, tools=[weather], messages=[
        {"role": "user", "content": "What is the weather in Paris?"}])
    [use] = [b for b in called.content if b.type == "tool_use"]
    assert called.stop_reason == "tool_use" and use.name == "get_weather" and use.input == {"city": "Paris"}
    answered = client.messages.create(model="auto", max_tokens=32, tools=[weather], tool_choice={"type": "none"},
                                      messages=[{"role": "user", "content": "What is the weather in Paris?"},
                                                {"role": "assistant", "content": called.content},
                                                {"role": "user", "content": [{"type": "tool_result",
                                                                              "tool_use_id": use.id,
                                                                              "content": "18C and sunny"}]}])
    assert answered.content[0].text == "4"
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(model="auto", max_tokens=16, messages=question, extra_body={"top_k": 5})
    assert refused.value.body["type"] == "error" and refused.value.body["error"]["param"] == "top_k"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no-such-model", max_tokens=16, messages=question)


def test_a_compound_request_runs_each_part_as_its_own_cascade_in_the_state_machine_s_map(stack, upstream):
    """Two questions in one request: the detector fires, the decomposer splits them, the synthesised
    definition's Map runs a cascade per part, and the compose task answers them in order; the trace holds
    both parts, each with its own tiers and verdicts, and the spend counts the decomposer and both parts."""
    _, server, _, _ = stack
    text = perfect_split(["What is 2+2?", "What is the capital of France?"])
    response = ask(server.url, text, max_tokens=16)
    assert response.status_code == 200, response.text
    body = response.json()
    answer = body["choices"][0]["message"]["content"]
    assert answer.index("4") < answer.index("Paris"), answer  # the parts' answers, in the parts' order
    trace = httpx.get(f"{server.url}/v1/traces/{body['switchboard']['trace_id']}", timeout=30).json()
    decomposition = trace["state"]["decomposition"]
    assert decomposition["decomposer"]["reply"]["text"] == PERFECT_SPLITS[outline(text)]
    parts = decomposition["parts"]
    assert [p["request"]["messages"][-1]["content"] for p in parts] == ["What is 2+2?", "What is the capital of France?"]
    assert all(p["attempts"] and p["attempts"][0]["verdicts"] and p["decision"]["action"] == "accept" for p in parts)
    spent = trace["state"]["spent_usd"]
    assert spent > sum(p["spent_usd"] for p in parts) > 0  # the decomposer's call is paid for too
    # `switchboard ask` prints the decomposer's call and each part, with who answered it and its verdict
    lines = summary_lines(body)
    assert lines[0].startswith("-- decomposed into 2 parts by ") and len(lines) == 3, lines
    for k, line in enumerate(lines[1:], start=1):
        assert line.startswith(f"-- part {k}: answered by ") and "decision accept" in line, line
    stages = body["switchboard"]["timing"]["stages"]  # each part's stages, labelled, then compose
    assert {s.get("part") for s in stages if s["stage"] == "tier"} == {1, 2}
    assert [s["stage"] for s in stages][-3:] == ["compose", "record", "return"]


def test_a_compound_request_the_decomposer_does_not_split_is_answered_whole_and_the_trace_says_why(stack):
    _, server, _, _ = stack
    response = ask(server.url, "Question 1:\nWhat is 3+3?\n\nQuestion 2:\nWhat is 5+5?", max_tokens=16)
    assert response.status_code == 200, response.text
    trace = httpx.get(f"{server.url}/v1/traces/{response.json()['switchboard']['trace_id']}", timeout=30).json()
    decomposition = trace["state"]["decomposition"]
    assert decomposition["parts"] == [] and decomposition["decomposer"]["reply"]["text"] == "no split"
    assert decomposition["outcome"]  # why it was answered whole
    assert summary_lines(response.json())[-1] == f"-- not decomposed: {decomposition['outcome']}"
