"""Agent frameworks and SDK clients through ``switchboard local`` on its default REAL local models: each runs
once as a new user would run it, with ``model="auto"``.

Tool loops - a ``get_weather`` tool that answers "21 °C, cloudy" for any city, asked "What is the weather in
Paris right now? Use the get_weather tool." - pass when the final answer holds 21, which only the tool knows:
the openai SDK's chat-completions loop and its Responses loop (``function_call_output``), pydantic-ai (text
output, and a typed output), the OpenAI Agents SDK (its chat-completions model and its default Responses
model) and a LangChain ``bind_tools`` loop with ``ToolMessage``s. Structured output - "Ada Lovelace is 36
years old. Extract the person." into ``Person(name, age)`` - passes when the validated model holds 36:
``chat.completions.parse`` and instructor in TOOLS, JSON_SCHEMA and MD_JSON modes. And
``responses.stream`` streams an answer to "What is 2+2?".

Each client gets at most 4 model requests. Writes benchmarks/out/agent_clients.json.

Run: .venv/bin/python benchmarks/agent_clients.py   (after `switchboard models pull`; ~3 min on 2 cores)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "agent_clients.json"
QUESTION = "What is the weather in Paris right now? Use the get_weather tool."
EXTRACT = "Ada Lovelace is 36 years old. Extract the person."
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def weather(city: str) -> str:
    return "21 °C, cloudy"


def start(state: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "switchboard.cli", "local", "--port", str(port), "--state-dir",
                               str(state)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "POWERTOOLS_LOG_LEVEL": "ERROR"})
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2, trust_env=False).status_code == 200:
                return server, f"http://127.0.0.1:{port}/v1"
        except httpx.TransportError:
            pass
        if server.poll() is not None:
            raise SystemExit("switchboard local exited")
        time.sleep(0.5)
    raise SystemExit("switchboard local did not start")


def openai_chat(base: str) -> tuple[str | None, bool]:
    import openai

    client = openai.OpenAI(base_url=base, api_key="unused-locally", max_retries=0, timeout=240)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                               "parameters": WEATHER_SCHEMA}}]
    messages: list = [{"role": "user", "content": QUESTION}]
    called = False
    for _ in range(4):
        message = client.chat.completions.create(model="auto", messages=messages, tools=tools,
                                                 max_tokens=160).choices[0].message
        if not message.tool_calls:
            return message.content, called
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            called = True
            messages.append({"role": "tool", "tool_call_id": call.id,
                             "content": weather(**json.loads(call.function.arguments))})
    return None, called


def openai_responses(base: str) -> tuple[str | None, bool]:
    import openai

    client = openai.OpenAI(base_url=base, api_key="unused-locally", max_retries=0, timeout=240)
    tools = [{"type": "function", "name": "get_weather", "description": "Current weather in a city",
              "parameters": WEATHER_SCHEMA}]
    response = client.responses.create(model="auto", input=QUESTION, tools=tools, max_output_tokens=160)
    called = False
    for _ in range(3):
        calls = [o for o in response.output if o.type == "function_call"]
        if not calls:
            return response.output_text, called
        called = True
        response = client.responses.create(
            model="auto", previous_response_id=response.id, tools=tools, max_output_tokens=160,
            input=[{"type": "function_call_output", "call_id": c.call_id, "output": weather(**json.loads(c.arguments))}
                   for c in calls])
    return None, called


def pydantic_ai(base: str, typed: bool) -> tuple[str | None, bool]:
    from pydantic import BaseModel
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider
    from pydantic_ai.usage import UsageLimits

    class Weather(BaseModel):
        city: str
        temperature_c: int

    calls: list[str] = []
    model = OpenAIChatModel("auto", provider=OpenAIProvider(base_url=base, api_key="unused-locally"))
    agent = Agent(model, output_type=Weather) if typed else Agent(model)

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        calls.append(city)
        return weather(city)

    result = agent.run_sync(QUESTION, usage_limits=UsageLimits(request_limit=4))
    return str(result.output), bool(calls)


def agents_sdk(base: str, api: str) -> tuple[str | None, bool]:
    output, calls = run_agents_sdk(base, api, QUESTION)
    return output, bool(calls)


def run_agents_sdk(base: str, api: str, question: str) -> tuple[str, list[str]]:
    """The OpenAI Agents SDK's weather agent on ``base`` (``api``: "responses", its default model, or
    "chat" for its chat completions model): its final output and the cities its tool was called with."""
    import openai
    from agents import (
        Agent,
        OpenAIChatCompletionsModel,
        OpenAIResponsesModel,
        Runner,
        function_tool,
        set_tracing_disabled,
    )

    set_tracing_disabled(True)
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        calls.append(city)
        return weather(city)

    client = openai.AsyncOpenAI(base_url=base, api_key="unused-locally", max_retries=0, timeout=240)
    model = OpenAIResponsesModel("auto", client) if api == "responses" else OpenAIChatCompletionsModel("auto", client)
    agent = Agent(name="weather", instructions="Answer with the tool's result.", tools=[get_weather], model=model)
    return str(Runner.run_sync(agent, question, max_turns=4).final_output), calls


def langchain(base: str) -> tuple[str | None, bool]:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        return weather(city)

    llm = ChatOpenAI(model="auto", base_url=base, api_key="unused-locally", max_retries=0, timeout=240)
    bound = llm.bind_tools([get_weather])
    messages: list = [HumanMessage(QUESTION)]
    called = False
    for _ in range(4):
        reply = bound.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return str(reply.content), called
        for call in reply.tool_calls:
            called = True
            messages.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
    return None, called


def extracted(base: str, mode: str | None) -> tuple[str | None, bool]:
    import openai
    from pydantic import BaseModel

    class Person(BaseModel):
        name: str
        age: int

    client = openai.OpenAI(base_url=base, api_key="unused-locally", max_retries=0, timeout=240)
    messages = [{"role": "user", "content": EXTRACT}]
    if mode is None:
        person = client.chat.completions.parse(model="auto", messages=messages, response_format=Person,
                                               max_tokens=64).choices[0].message.parsed
    else:
        import instructor

        patched = instructor.from_openai(client, mode=getattr(instructor.Mode, mode))
        person = patched.chat.completions.create(model="auto", response_model=Person, messages=messages,
                                                 max_tokens=64, max_retries=0)
    return str(person), False


def streamed(base: str) -> tuple[str | None, bool]:
    import openai

    client = openai.OpenAI(base_url=base, api_key="unused-locally", max_retries=0, timeout=240)
    deltas = []
    with client.responses.stream(model="auto", input="What is 2+2? Answer with a number.",
                                 max_output_tokens=24) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    return f"{''.join(deltas)} ({final.status})", False


def main() -> int:
    clients: list[tuple[str, str, Callable[[str], tuple[str | None, bool]]]] = [
        ("openai SDK chat.completions tool loop", "21", openai_chat),
        ("openai SDK responses.create tool loop", "21", openai_responses),
        ("pydantic-ai, a tool, text output", "21", lambda b: pydantic_ai(b, typed=False)),
        ("pydantic-ai, a tool, typed output", "21", lambda b: pydantic_ai(b, typed=True)),
        ("OpenAI Agents SDK, chat completions model", "21", lambda b: agents_sdk(b, "chat")),
        ("OpenAI Agents SDK, default Responses model", "21", lambda b: agents_sdk(b, "responses")),
        ("LangChain bind_tools + ToolMessage", "21", langchain),
        ("openai SDK chat.completions.parse", "36", lambda b: extracted(b, None)),
        ("instructor TOOLS", "36", lambda b: extracted(b, "TOOLS")),
        ("instructor JSON_SCHEMA", "36", lambda b: extracted(b, "JSON_SCHEMA")),
        ("instructor MD_JSON", "36", lambda b: extracted(b, "MD_JSON")),
        ("openai SDK responses.stream", "4", streamed),
    ]
    server, base = start(Path(tempfile.mkdtemp(prefix="switchboard-clients-")) / "state")
    results = []
    try:
        for name, expect, run in clients:
            started = time.time()
            try:
                answer, called = run(base)
                row = {"client": name, "passed": expect in (answer or ""), "tool_called": called,
                       "answer": (answer or "")[:200]}
            except Exception as exc:  # noqa: BLE001 - a client's failure is a result, reported
                row = {"client": name, "passed": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            row["seconds"] = round(time.time() - started, 1)
            results.append(row)
            print(f"  {'PASS' if row['passed'] else 'fail'}  {name:45s} {row['seconds']:6.1f}s  "
                  f"{row.get('answer') or row.get('error')}"[:200], flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"measured_at": time.strftime("%Y-%m-%d"), "clients": results}, indent=1) + "\n")
    print(f"{sum(r['passed'] for r in results)}/{len(results)} passed; wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
