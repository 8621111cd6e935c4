"""The local stack end to end: the synthesised template, the emulator, real local LLMs, the OpenAI SDK.

One stack is started for the module (synth is cached; the models load once). Requests use small
``max_tokens`` so the module runs in a few minutes on two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import openai
import pytest

from switchboard import envvars as names
from switchboard.adapters.stores.dynamo import DynamoCatalog, DynamoTaxonomy
from switchboard.domain.catalog import ModelEntry, ModelPrice
from switchboard.domain.taxonomy import Category
from switchboard.local.definition import definition_from_template
from switchboard.local.stack import LocalStack, synth_template

pytestmark = pytest.mark.e2e

FAULT_PROMPT = "Switchboard fault drill: what is the capital of Italy?"
# A category served by two real tiers whatever the shipped judge policy measured: the 0.5B, then the 1.5B
# under a second catalogue id the policy never measured (so it neither skips nor calibrates it).
BUDGET_PROMPT = "Switchboard budget drill: what is the capital of Canada?"
SMALL, BIG = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"


@pytest.fixture(scope="module")
def stack():
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from switchboard.cli.stack_cmds import _pull_catalog_models

    _pull_catalog_models(None)
    local = LocalStack().start()
    # A fault drill: a category whose first tier always times out, so requests matching it must fall
    # through to the next tier. Seeded before the first request (the router caches these tables).
    client = local._dynamodb()
    DynamoCatalog(local.environment[names.ENV_CATALOG_TABLE], client=client).put_all([
        ModelEntry(model_id="always-times-out", provider="fault", provider_model="timeout",
                   price=ModelPrice(input_usd_per_mtok=0.01, output_usd_per_mtok=0.01)),
        ModelEntry(model_id="unmeasured-1.5b", provider="local_gguf", provider_model="qwen2.5-coder-1.5b-instruct-q4_k_m",
                   price=ModelPrice(input_usd_per_mtok=0.15, output_usd_per_mtok=0.3))])
    from switchboard.adapters.encoder import get_encoder

    centroid = [float(x) for x in get_encoder().embed_one(FAULT_PROMPT)]
    budget_centroid = [float(x) for x in get_encoder().embed_one(BUDGET_PROMPT)]
    DynamoTaxonomy(local.environment[names.ENV_TAXONOMY_TABLE], client=client).put_all([
        Category(name="fault-drill", centroid=centroid, tiers=["always-times-out", SMALL]),
        Category(name="budget-drill", centroid=budget_centroid, tiers=[SMALL, "unmeasured-1.5b"])])
    from switchboard.http.server import LocalServer
    from switchboard.local.emulator import free_port

    server = LocalServer(local, port=free_port()).start_background()
    yield local, server
    server.stop()
    local.stop()


@pytest.fixture(scope="module")
def client(stack):
    _, server = stack
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="local", max_retries=0, timeout=600)


def test_openai_sdk_gets_a_real_answer_with_switchboard_extension(stack, client):
    reply = client.chat.completions.create(model="auto", max_tokens=24,
                                           messages=[{"role": "user", "content": "What is 2+2? Answer with a number."}])
    assert reply.choices[0].message.content.strip()
    sb = reply.model_extra["switchboard"]
    assert sb["tiers"] and sb["tiers"][0]["model"] in (SMALL, BIG)
    assert reply.model == sb["answered_by"]["model"]
    verdicts = sb["tiers"][0]["verdicts"]
    # the judges of the shipped judge policy, measured on the local pool (src/switchboard/data/judges.local.json)
    from switchboard.composition import DEFAULT_JUDGE_POLICY
    from switchboard.domain.judging import JudgePolicy

    # as measured for the region of prompts this one fell in (the answer is verified only inside one)
    shipped = JudgePolicy.model_validate_json(DEFAULT_JUDGE_POLICY.read_text()).scoped(sb["judge_region"])
    kinds = {"logprob_other": "logprob"}
    assert {v["kind"] for v in verdicts} == {kinds.get(r, r) for r in shipped.judges}
    assert sb["verified"] is False or sb["judge_region"] is not None
    assert all(v["score"] is None or 0.0 <= v["score"] <= 1.0 for v in verdicts)
    # the local judges are constrained to the verdict line, so every one that ran stated a verdict
    assert all(v["score"] is not None for v in verdicts if not v["failed"]), verdicts
    assert sb["decision"]["action"] in ("accept", "stop") and sb["cost_usd"] > 0
    # the trace was written by the state machine's Record task and is readable over HTTP
    _, server = stack
    trace = httpx.get(f"{server.url}/v1/traces/{sb['trace_id']}", timeout=30).json()
    assert trace["status"] == "succeeded"
    assert trace["state"]["decision"]["action"] == sb["decision"]["action"]


def test_real_local_models_call_a_tool_with_arguments_valid_against_its_schema(client):
    """The local models are constrained to the tool-call protocol (a grammar from its JSON Schema), and the
    cascade checks the call: the SDK gets OpenAI tool_calls whose arguments fit the tool's schema."""
    weather = {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                        "unit": {"type": "string", "enum": ["C", "F"]}},
                       "required": ["city", "unit"], "additionalProperties": False}}}
    reply = client.chat.completions.create(model="auto", max_tokens=64, tools=[weather], tool_choice="required",
                                           messages=[{"role": "user", "content": "What's the weather in Oslo, in C?"}])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    for call in choice.message.tool_calls:
        arguments = json.loads(call.function.arguments)
        assert call.function.name == "get_weather" and set(arguments) == {"city", "unit"}
        assert isinstance(arguments["city"], str) and arguments["unit"] in ("C", "F")
    json_reply = client.chat.completions.create(
        model="auto", max_tokens=48, response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Give the capital of Norway as JSON with the key capital."}])
    assert isinstance(json.loads(json_reply.choices[0].message.content), dict)


def test_a_real_tool_loop_continues_on_the_calling_model_and_never_returns_the_answered_call_again(client):
    """An agent's loop through the SDK with the real local models: the tool result goes back, the next turn
    starts with the model that made the call (``switchboard.affinity``), and what comes back is an answer
    or a new call - never the call the result already answers (the cascade rejects such a tier)."""
    lookup = {"type": "function", "function": {
        "name": "lookup_age", "description": "Age in years of a person, by name",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
                       "additionalProperties": False}}}
    messages = [{"role": "user", "content": "How old is Ada? Use the tool."}]
    first = client.chat.completions.create(model="auto", max_tokens=64, tools=[lookup], tool_choice="required",
                                           messages=messages)
    call = first.choices[0].message.tool_calls[0]
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "25"}]
    second = client.chat.completions.create(model="auto", max_tokens=64, tools=[lookup], messages=messages)
    sb = second.model_extra["switchboard"]
    assert sb["affinity"].startswith("continuation of a tool loop") and sb["tiers"][0]["model"] == first.model
    again = second.choices[0].message.tool_calls or []
    assert all((c.function.name, json.loads(c.function.arguments)) != (call.function.name,
               json.loads(call.function.arguments)) for c in again), again
    assert again or (second.choices[0].message.content or "").strip()


def test_the_responses_api_answers_with_a_real_local_model(client):
    response = client.responses.create(model="auto", input="What is 2+2? Answer with a number.",
                                       max_output_tokens=24)
    assert response.status == "completed" and response.output_text.strip()
    assert response.usage.output_tokens > 0 and response.model_extra["switchboard"]["cost_usd"] > 0


def test_local_run_executes_the_definition_cdk_synth_emits(stack):
    local, _ = stack
    emitted, _ = definition_from_template(synth_template())
    sfn = local.aws.client("stepfunctions")
    running = json.loads(sfn.describe_state_machine(stateMachineArn=local.state_machine_arn)["definition"])
    assert running == emitted
    assert {"CallTier", "RunJudges", "Decide", "Route", "Record"} <= set(running["States"])
    # and the executions actually went through it: tier, judges, decide and record were invoked
    invoked = {name for name, _ in local.dispatcher.invocations}
    functions = {lid for lid in local.template["Resources"]
                 if local.template["Resources"][lid]["Type"] == "AWS::Lambda::Function"}
    assert len(invoked & functions) >= 5


def test_provider_timeout_is_retried_then_falls_through_to_next_tier(stack, client):
    reply = client.chat.completions.create(model="auto", max_tokens=16,
                                           messages=[{"role": "user", "content": FAULT_PROMPT}])
    sb = reply.model_extra["switchboard"]
    assert sb["category"] == "fault-drill"
    first, second = sb["tiers"][0], sb["tiers"][1]
    assert first["status"] == "failed" and first["error"].startswith("ProviderTimeout")
    assert second["model"] == SMALL and second["status"] == "answered"
    assert reply.model == SMALL
    local, _ = stack
    tier_calls = [r for n, r in local.dispatcher.invocations if r == "ProviderTimeout"]
    assert len(tier_calls) >= 3  # the first attempt and two retries


def test_budget_stops_before_the_second_tier_and_is_never_exceeded(stack, client):
    # A budget that pays for the first tier and its judges at their cost bound, but not for the second:
    # quality 1.0 keeps tier 0 from being accepted unless every judge is sure, so only the budget can stop
    # the cascade before the second tier.
    from switchboard import composition
    from switchboard.domain.requests import ChatRequest, Message

    question = BUDGET_PROMPT
    plan = composition.container().services().planner.plan(
        ChatRequest(messages=[Message(role="user", content=question)], max_tokens=16, quality=1.0))
    assert len(plan.tiers) >= 2, "the claim needs a plan with a second tier to stop before"
    budget = plan.tiers[0].est_cost_usd + plan.tiers[1].est_cost_usd / 2
    reply = client.chat.completions.create(
        model="auto", max_tokens=16, messages=[{"role": "user", "content": question}],
        extra_body={"switchboard": {"max_cost_usd": budget, "quality": 1.0}})
    sb = reply.model_extra["switchboard"]
    assert len(sb["tiers"]) == 1 and sb["cost_usd"] <= budget
    if sb["decision"]["action"] == "accept":
        # Only judges that are all sure may accept at quality 1.0; "verified" also needs their accuracy to
        # have been measured (a calibrated judge policy for the answering model).
        assert sb["confidence"] >= 1.0
        assert sb["decision"]["reason"] in ("confident", "confident_unmeasured")
        assert sb["verified"] == (sb["decision"]["reason"] == "confident")
    else:
        assert sb["decision"] == {**sb["decision"], "action": "stop", "reason": "budget"}
        assert not sb["verified"]


def test_a_budget_too_small_for_any_tier_is_a_402_before_anything_is_spent(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="auto", max_tokens=16,
                                       messages=[{"role": "user", "content": "What is the capital of Canada?"}],
                                       extra_body={"switchboard": {"max_cost_usd": 1e-12}})
    assert info.value.status_code == 402 and "cannot pay" in str(info.value)


def test_bad_requests_are_4xx_through_the_sdk(client, stack):
    with pytest.raises(openai.NotFoundError, match="unknown model"):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": ""}])
    _, server = stack
    response = httpx.post(f"{server.url}/v1/chat/completions", content=b"{not json", timeout=30,
                          headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]


def test_switchboard_ask_console_script_prints_json_from_any_directory(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "switchboard")
    if not os.path.exists(exe):
        pytest.skip("the switchboard console script is installed by scripts/setup.sh (pip install -e .)")
    # From a foreign directory and without pytest's sys.path: exactly what a user's shell gives the script.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([exe, "ask", "Say hello in French.", "--json", "--max-tokens", "12", "--no-pull"],
                         capture_output=True, text=True, timeout=900, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    body = json.loads(out.stdout)
    assert body["status"] == 200 and body["choices"][0]["message"]["content"]
    assert body["switchboard"]["decision"]["action"] in ("accept", "stop")
