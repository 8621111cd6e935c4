"""Agent frameworks and SDK clients through ``switchboard local`` on its default REAL local models, as a
new user runs them (the same clients as ``benchmarks/agent_clients.py``, which reports them all): a tool
loop passes when the final answer holds the value only the tool knows (21 °C), an extraction when the
validated model holds the age in the prompt, a stream when it streams the answer.
"""

from __future__ import annotations

import pytest

from benchmarks import agent_clients as clients

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    server, url = clients.start(tmp_path_factory.mktemp("clients") / "state")
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("run", [
    clients.openai_chat,
    clients.openai_responses,
    lambda base: clients.pydantic_ai(base, typed=False),
    lambda base: clients.pydantic_ai(base, typed=True),
    lambda base: clients.agents_sdk(base, "chat"),
    lambda base: clients.agents_sdk(base, "responses"),
    clients.langchain,
], ids=["openai-chat", "openai-responses", "pydantic-ai", "pydantic-ai-typed", "agents-sdk-chat", "agents-sdk-responses",
        "langchain"])
def test_a_tool_loop_ends_with_the_value_only_the_tool_knows(base, run):
    answer, called = run(base)
    assert called and "21" in (answer or ""), answer


@pytest.mark.parametrize("mode", [None, "TOOLS", "JSON_SCHEMA", "MD_JSON"])
def test_structured_output_is_a_validated_model(base, mode):
    answer, _ = clients.extracted(base, mode)
    assert "36" in (answer or ""), answer


def test_responses_stream_streams_the_answer(base):
    answer, _ = clients.streamed(base)
    assert answer.startswith("4") and answer.endswith("(completed)"), answer
