"""Agent frameworks through Switchboard, as a new user points them at it: pydantic-ai (a tool and a typed
output), the OpenAI Agents SDK (its default Responses model and its chat completions model) and a
LangChain tool loop (``bind_tools``, ``ToolMessage``), against the local stack.

The model is a SCRIPTED FAKE (``tests/support/scripted_agent_model``) behind the fake OpenAI-compatible
server: it knows no value, so an answer holding the tool's value (25, 21 °C) shows that the framework's
tool loop ran through Switchboard and ended - the call, its result read back, the final answer.
"""

from __future__ import annotations

import pytest

from benchmarks import agent_clients as clients
from tests.support.scripted_agent_model import reply
from tests.support.scripted_stack import scripted_stack


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    with scripted_stack(tmp_path_factory.mktemp("agents"), reply) as (_, server):
        yield f"{server.url}/v1"


def test_pydantic_ai_runs_a_tool_and_returns_its_typed_output(base_url):
    from pydantic import BaseModel
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    class Person(BaseModel):
        name: str
        age: int

    calls: list[str] = []
    model = OpenAIChatModel("auto", provider=OpenAIProvider(base_url=base_url, api_key="unused-locally"))
    agent = Agent(model, output_type=Person)

    @agent.tool_plain
    def lookup_age(name: str) -> int:
        """Look up a person's age in the records."""
        calls.append(name)
        return 25

    result = agent.run_sync("How old is Ada?")
    assert result.output == Person(name="Ada", age=25)
    assert calls == ["Ada"]  # called once: the loop ended on the tool's answer


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_the_agents_sdk_calls_the_tool_and_answers_with_its_value(base_url, api):
    output, asked = clients.run_agents_sdk(base_url, api, "What's the weather in Paris?")
    assert asked == ["Paris"] and "21 °C, cloudy" in output


def test_a_langchain_tool_loop_binds_tools_and_reads_tool_messages(base_url, monkeypatch):
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """The current weather of a city."""
        return "21 °C, cloudy"

    chat = ChatOpenAI(base_url=base_url, api_key="unused-locally", model="auto", max_retries=0).bind_tools([get_weather])
    messages = [HumanMessage("What's the weather in Paris?")]
    first = chat.invoke(messages)
    [call] = first.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"}
    messages += [first, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    final = chat.invoke(messages)
    assert not final.tool_calls and "21 °C, cloudy" in final.content


class _Person:
    """The typed answer the structured-output clients ask for."""

    @staticmethod
    def model() -> type:
        from pydantic import BaseModel

        class Person(BaseModel):
            name: str
            age: int

        return Person


@pytest.mark.parametrize("mode", ["TOOLS", "JSON_SCHEMA", "MD_JSON"])
def test_instructor_gets_a_validated_model_in_each_mode(base_url, mode):
    import instructor
    import openai

    person = _Person.model()
    client = instructor.from_openai(openai.OpenAI(base_url=base_url, api_key="unused-locally", max_retries=0),
                                    mode=getattr(instructor.Mode, mode))
    answer = client.chat.completions.create(model="auto", response_model=person, max_retries=0, max_tokens=64,
                                            messages=[{"role": "user", "content": "Extract: Ada is 25."}])
    assert isinstance(answer, person) and answer.model_dump() == {"name": "Ada", "age": 25}


def test_the_openai_sdk_parses_a_chat_completion_into_a_pydantic_model(base_url):
    import openai

    person = _Person.model()
    client = openai.OpenAI(base_url=base_url, api_key="unused-locally", max_retries=0)
    completion = client.chat.completions.parse(model="auto", response_format=person, max_tokens=64,
                                               messages=[{"role": "user", "content": "Extract: Ada is 25."}])
    assert completion.choices[0].message.parsed == person(name="Ada", age=25)
