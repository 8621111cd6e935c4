"""A model that stays for the conversation, through the local stack (the synthesised state machine, the
handlers, the sessions table on the emulated DynamoDB): a session's next request starts with the model that
answered its last one, a continued tool loop or stored response with the model that made the call, and a
request without a conversation is planned afresh - each saying so in ``switchboard.affinity``.

The models are a SCRIPTED FAKE (tests/support/scripted_session_model) on a loopback OpenAI-compatible
server: the judges reject the cheap model ``fast``'s answer to a turn marked "(hard)", and ``fast``'s
tool calls break the tool's schema, so both escalate to ``strong``.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.scripted_session_model import reply
from tests.support.scripted_stack import scripted_stack

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with scripted_stack(tmp_path_factory.mktemp("affinity"), reply) as (_, server):
        yield server.url


def _chat(url: str, messages: list[dict], **extra: object) -> dict:
    response = httpx.post(f"{url}/v1/chat/completions", timeout=60,
                          json={"model": "auto", "messages": messages, "max_tokens": 32, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def _tiers(body: dict) -> list[str]:
    return [t["model"] for t in body["switchboard"]["tiers"]]


@pytest.mark.parametrize("field", ["prompt_cache_key", "user", "switchboard"])
def test_a_sessions_next_request_starts_with_the_model_of_its_last_answer(url, field):
    def session(name: str) -> dict:
        return {field: {"session": name} if field == "switchboard" else name}

    first = _chat(url, [{"role": "user", "content": "Turn 1 (hard)."}], **session(f"{field}-a"))
    assert first["switchboard"]["answered_by"]["model"] == "strong" and first["switchboard"]["affinity"] is None
    again = _chat(url, [{"role": "user", "content": "Turn 2."}], **session(f"{field}-a"))
    assert _tiers(again) == ["strong"] and again["switchboard"]["answered_by"]["model"] == "strong"
    assert again["switchboard"]["affinity"].startswith("session: strong")
    other = _chat(url, [{"role": "user", "content": "Turn 2."}], **session(f"{field}-b"))  # another session
    assert _tiers(other)[0] == "fast" and other["switchboard"]["affinity"] is None
    alone = _chat(url, [{"role": "user", "content": "Turn 2."}])  # no session at all
    assert alone["switchboard"]["answered_by"]["model"] == "fast" and alone["switchboard"]["affinity"] is None


def test_a_tool_result_is_answered_by_the_model_that_made_the_call(url):
    asked = [{"role": "user", "content": "Weather in Paris?"}]
    called = _chat(url, asked, tools=[WEATHER])
    message = called["choices"][0]["message"]
    assert called["switchboard"]["answered_by"]["model"] == "strong"  # fast's call broke the schema
    call = message["tool_calls"][0]
    continued = _chat(url, [*asked, message, {"role": "tool", "tool_call_id": call["id"], "content": "21 C"}],
                      tools=[WEATHER])
    assert _tiers(continued) == ["strong"] and "tool loop" in continued["switchboard"]["affinity"]
    assert continued["choices"][0]["message"]["content"] == "21 C - answered by strong"
    assert f"(request {call['id'].split('_')[1]})" in continued["switchboard"]["affinity"]


def test_a_foreign_call_id_is_planned_afresh(url):
    asked = [{"role": "user", "content": "Weather in Paris?"},
             {"role": "assistant", "content": None, "tool_calls": [
                 {"id": "call_elsewhere", "type": "function",
                  "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
             {"role": "tool", "tool_call_id": "call_elsewhere", "content": "21 C"}]
    body = _chat(url, asked, tools=[WEATHER])
    assert _tiers(body)[0] == "fast" and body["switchboard"]["affinity"] is None


def test_previous_response_id_continues_with_the_model_that_answered_it(url):
    tools = [{"type": "function", **WEATHER["function"]}]
    first = httpx.post(f"{url}/v1/responses", timeout=60,
                       json={"model": "auto", "input": "Weather in Paris?", "tools": tools}).json()
    call = next(item for item in first["output"] if item["type"] == "function_call")
    assert first["switchboard"]["answered_by"]["model"] == "strong"
    second = httpx.post(f"{url}/v1/responses", timeout=60, json={
        "model": "auto", "previous_response_id": first["id"], "tools": tools,
        "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "21 C"}]}).json()
    assert _tiers(second) == ["strong"] and "stored response" in second["switchboard"]["affinity"]
    said = next(item for item in second["output"] if item["type"] == "message")
    assert said["content"][0]["text"] == "21 C - answered by strong"


def test_a_session_on_the_cheap_model_still_escalates_and_then_moves_on(url):
    easy = _chat(url, [{"role": "user", "content": "Turn 1."}], prompt_cache_key="escalating")
    assert easy["switchboard"]["answered_by"]["model"] == "fast"
    hard = _chat(url, [{"role": "user", "content": "Turn 2 (hard)."}], prompt_cache_key="escalating")
    assert _tiers(hard) == ["fast", "strong"] and hard["switchboard"]["affinity"].startswith("session: fast")
    assert hard["switchboard"]["answered_by"]["model"] == "strong"
    after = _chat(url, [{"role": "user", "content": "Turn 3."}], prompt_cache_key="escalating")
    assert _tiers(after) == ["strong"] and after["switchboard"]["affinity"].startswith("session: strong")


def test_a_background_job_moves_its_session_to_the_model_that_answered_it(url):
    started = httpx.post(f"{url}/v1/route", timeout=30, json={
        "async": True, "max_tokens": 32, "user": "job-session",
        "messages": [{"role": "user", "content": "Turn 1 (hard)."}]})
    assert started.status_code == 202, started.text
    job = started.json()
    deadline = time.time() + 60
    while (polled := httpx.get(f"{url}/v1/jobs/{job['id']}", timeout=30).json())["status"] == "running":
        assert time.time() < deadline, polled
        time.sleep(0.2)
    assert polled["status"] == "succeeded" and polled["result"]["model"] == "strong", polled
    after = _chat(url, [{"role": "user", "content": "Turn 2."}], user="job-session")
    assert _tiers(after) == ["strong"] and after["switchboard"]["affinity"].startswith("session: strong")
