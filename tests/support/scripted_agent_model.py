"""A SCRIPTED FAKE tool-using model for the agent-framework tests, served by ``FakeOpenAIServer``: it reads
the tools Switchboard offers (the tool-call protocol's schema), calls the first data tool it has not called
yet - ``lookup_age`` for Ada, ``get_weather`` for Paris - and once the conversation holds that tool's
result, either calls the framework's output tool (``final_result``, with the result as ``age``) or answers
in text quoting the result. It knows no value itself: whatever it reports came from the tool's result.
Judges (whose prompts fence the answer) are told CORRECT; asked for JSON without tools, it answers the
schema with the person it was asked about.
"""

from __future__ import annotations

import json
import re
from typing import Any

DATA_TOOLS = {"lookup_age": {"name": "Ada"}, "get_weather": {"city": "Paris"}}
RESULT = re.compile(r"^Result of tool call \S+:\n(?P<result>.*)$", re.DOTALL)


def offered_tools(body: dict[str, Any]) -> list[str]:
    """The tool names the protocol's schema (sent as ``response_format``) admits."""
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
    return re.findall(r'"const": "([A-Za-z0-9_-]+)"', json.dumps(schema))


def reply(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    last = str(messages[-1].get("content", ""))
    if "<<<ANSWER" in last:
        return "VERDICT: CORRECT"
    fmt = body.get("response_format") or {}
    if fmt.get("json_schema", {}).get("name") != "tool_calls":
        if fmt:
            return json.dumps({"name": "Ada", "age": 25})
        asked_json = "json" in json.dumps(messages).lower()  # instructor's MD_JSON mode asks in the prompt
        return '```json\n{"name": "Ada", "age": 25}\n```' if asked_json else "Hello from the scripted model."
    tools = offered_tools(body)
    if tools and all(t not in DATA_TOOLS and t != "final_result" for t in tools):  # a structured-output tool
        return json.dumps({"tool_calls": [{"name": tools[0], "arguments": {"name": "Ada", "age": 25}}]})
    results = [m.group("result") for m in (RESULT.match(str(msg.get("content", ""))) for msg in messages) if m]
    wanted = next((t for t in tools if t in DATA_TOOLS), None)
    if wanted is not None and not results:
        return json.dumps({"tool_calls": [{"name": wanted, "arguments": DATA_TOOLS[wanted]}]})
    if "final_result" in tools:
        return json.dumps({"tool_calls": [{"name": "final_result",
                                           "arguments": {"name": "Ada", "age": int(results[-1].strip())}}]})
    return json.dumps({"content": f"The tool says: {results[-1].strip() if results else 'nothing'}."})
