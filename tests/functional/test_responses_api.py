"""OpenAI's Responses API (``POST /v1/responses``, ``GET /v1/responses/{id}``) through the official openai
SDK against the local stack: text and function calls, a tool loop continued with ``function_call_output``
items and with ``previous_response_id``, structured output, streaming, stored responses scoped to their
caller's key, and every field that cannot be honoured refused by name.

The models are a SCRIPTED FAKE served by the fake OpenAI-compatible server on loopback: it calls
``get_weather`` until the conversation holds the tool's result, then answers with that result.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.support.scripted_stack import scripted_stack

WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                          "additionalProperties": False}}


def scripted(body: dict) -> str:
    """A SCRIPTED FAKE model: judges say CORRECT; with tools it calls get_weather until a tool result is in
    the conversation, then reports it; asked for JSON it answers the schema's city; else it says hello."""
    messages = body.get("messages") or [{}]
    last = str(messages[-1].get("content", ""))
    if "<<<ANSWER" in last:
        return "VERDICT: CORRECT"
    fmt = body.get("response_format") or {}
    if fmt.get("json_schema", {}).get("name") == "tool_calls":
        results = [m["content"] for m in messages if str(m.get("content", "")).startswith("Result of tool call")]
        if results:
            return json.dumps({"content": f"It is {results[-1].splitlines()[-1]} in Paris."})
        return json.dumps({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]})
    if fmt:
        return json.dumps({"city": "Paris", "celsius": 21})
    said = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
    return "Hello there, " + " / ".join(said)[-80:]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with scripted_stack(tmp_path_factory.mktemp("responses"), scripted, token_s=0.01) as started:
        yield started


@pytest.fixture(scope="module")
def client(stack):
    import openai

    return openai.OpenAI(base_url=f"{stack[1].url}/v1", api_key="unused-locally", max_retries=0)


def test_a_string_input_with_instructions_gets_a_message_usage_and_the_switchboard_extension(client):
    response = client.responses.create(model="auto", input="Hi, I am Ada.", instructions="Be brief.",
                                       max_output_tokens=32, temperature=0.2, metadata={"ticket": "T-1"})
    assert response.status == "completed" and response.output_text.startswith("Hello there, Hi, I am Ada.")
    assert response.output[0].type == "message" and response.output[0].role == "assistant"
    assert response.usage.input_tokens > 0 and response.usage.total_tokens == (
        response.usage.input_tokens + response.usage.output_tokens)
    assert response.metadata == {"ticket": "T-1"} and response.instructions == "Be brief."
    extension = response.model_extra["switchboard"]
    assert extension["trace_id"] and response.id == f"resp_{extension['trace_id']}"
    assert extension["cost_usd"] > 0 and extension["tiers"]


def test_a_tool_loop_runs_on_function_call_items_and_on_previous_response_id(client):
    first = client.responses.create(model="auto", input="What is the weather in Paris?", tools=[WEATHER],
                                    tool_choice="auto", parallel_tool_calls=False, max_output_tokens=64)
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"} and call.call_id
    # the whole conversation sent again, as the Agents SDK does without a stored response
    items = [{"role": "user", "content": "What is the weather in Paris?"}, call.model_dump(exclude_none=True),
             {"type": "function_call_output", "call_id": call.call_id, "output": "21 °C, cloudy"}]
    done = client.responses.create(model="auto", input=items, tools=[WEATHER], max_output_tokens=64)
    assert done.output_text == "It is 21 °C, cloudy in Paris."
    # the same continuation on the stored response: only the tool's output is sent
    chained = client.responses.create(model="auto", previous_response_id=first.id, tools=[WEATHER], input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "18 °C, rain"}], max_output_tokens=64)
    assert chained.output_text == "It is 18 °C, rain in Paris." and chained.previous_response_id == first.id


def test_structured_output_parses_into_a_pydantic_model(client):
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str
        celsius: int

    parsed = client.responses.parse(model="auto", input="Weather in Paris as JSON", text_format=Weather,
                                    max_output_tokens=64)
    assert parsed.output_parsed == Weather(city="Paris", celsius=21)


def test_a_stream_sends_the_responses_events_and_the_sdk_assembles_them(client):
    with client.responses.stream(model="auto", input="Hi, I am Bo.", max_output_tokens=32) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and final.output_text.startswith("Hello there, Hi, I am Bo.")
    assert final.model_extra["switchboard"]["trace_id"]
    with client.responses.stream(model="auto", input="Weather in Paris?", tools=[WEATHER],
                                 max_output_tokens=64) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    assert final.output[0].type == "function_call" and json.loads(final.output[0].arguments) == {"city": "Paris"}
    # a pinned model streams its tokens as they come: one delta per word of the fake's answer
    with client.responses.stream(model="strong", input="one two three", max_output_tokens=32) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
    assert len(deltas) > 3 and "".join(deltas).startswith("Hello there,")


def test_a_stored_response_is_read_back_by_its_own_caller_only(stack, client):
    import boto3
    import openai

    from switchboard import envvars as names
    from switchboard.adapters.stores.dynamo_keys import DynamoKeys
    from switchboard.service.api_keys import new_key

    local, server = stack
    mine = client.responses.create(model="auto", input="Hi", max_output_tokens=16)
    assert client.responses.retrieve(mine.id).output_text == mine.output_text
    unstored = client.responses.create(model="auto", input="Hi", max_output_tokens=16, store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)
    dynamodb = boto3.client("dynamodb", endpoint_url=local.environment["AWS_ENDPOINT_URL_DYNAMODB"],
                            region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    keys = DynamoKeys(local.environment[names.ENV_KEYS_TABLE], client=dynamodb)
    clients = []
    for name in ("alice", "bob"):
        secret, key = new_key(name, 10.0)
        keys.create(key)
        clients.append(openai.OpenAI(base_url=f"{server.url}/v1", api_key=secret, max_retries=0))
    alice, bob = clients
    hers = alice.responses.create(model="auto", input="Hi", max_output_tokens=16)
    assert alice.responses.retrieve(hers.id).id == hers.id
    for other in (bob, client):  # another key, and a caller with no key
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(hers.id)
        with pytest.raises(openai.NotFoundError) as missing:
            other.responses.create(model="auto", input="go on", previous_response_id=hers.id)
        assert missing.value.body["param"] == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="auto", input="go on", previous_response_id="resp_nonexistent")


@pytest.mark.parametrize(("extra", "param"), [
    ({"tools": [{"type": "web_search"}]}, "tools"),
    ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools"),
    ({"reasoning": {"effort": "high"}}, "reasoning"),
    ({"include": ["reasoning.encrypted_content"]}, "include"),
    ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
    ({"input": [{"type": "function_call_output", "call_id": "call_nowhere", "output": "1"}]}, "input"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]}, "input"),
    ({"text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "nonsense"}}}}, "text"),
    ({"max_output_tokens": 0}, "max_output_tokens"),
    ({"background": True}, "background"),
    ({"frobnicate": 1}, "frobnicate"),
])
def test_what_cannot_be_honoured_is_a_400_naming_the_field(stack, extra, param):
    _, server = stack
    body = {"model": "auto", "input": "Hi", **extra}
    response = httpx.post(f"{server.url}/v1/responses", json=body, timeout=30)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["message"]


def test_the_openapi_document_describes_the_responses_routes(stack):
    _, server = stack
    document = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    paths = document["paths"]
    assert "post" in paths["/v1/responses"] and "get" in paths["/v1/responses/{response_id}"]
    assert re.search("function_call_output", json.dumps(document["components"]))
