"""A SCRIPTED FAKE pool for conversation-affinity tests and benchmarks/affinity.py, served by
``FakeOpenAIServer``: every model answers "<turn text> - answered by <model>"; its judges reject the cheap
model ``fast``'s answer to a question marked "(hard)" and accept everything else, so a hard turn escalates
to ``strong``. With tools it calls ``get_weather`` until the conversation holds the result, then reports it
- ``fast`` with arguments the tool's schema refuses, so the call is ``strong``'s."""

from __future__ import annotations

import json
from typing import Any


def reply(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    model = body.get("model", "?")
    last = str(messages[-1].get("content", ""))
    if "<<<ANSWER" in last:  # a judge: the conversation as sent, then the fenced answer to grade
        asked = next((str(m.get("content")) for m in reversed(messages[:-1]) if m.get("role") == "user"), "")
        graded = last.split("<<<ANSWER", 1)[1]
        return "VERDICT: INCORRECT" if "(hard)" in asked and "answered by fast" in graded else "VERDICT: CORRECT"
    fmt = body.get("response_format") or {}
    if fmt.get("json_schema", {}).get("name") == "tool_calls":
        results = [str(m["content"]) for m in messages if str(m.get("content", "")).startswith("Result of tool call")]
        if results:
            return json.dumps({"content": f"{results[-1].splitlines()[-1]} - answered by {model}"})
        arguments = {"town": "Paris"} if model == "fast" else {"city": "Paris"}
        return json.dumps({"tool_calls": [{"name": "get_weather", "arguments": arguments}]})
    question = next((str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    return f"{question[:40]} - answered by {model}"
