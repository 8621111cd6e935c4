"""Tools in a local model's own form: the GGUF's chat template renders the tool definitions, the calls and
their results (Qwen's ``# Tools`` section, ``<tool_call>`` and ``<tool_response>`` blocks...), as the model
was trained to read them, and the answer is read back into the tool-call protocol (``domain.formats``), so
the cascade checks it as it checks every other model's.

Why: in the protocol's spelling a small model reads a tool's result as one more user turn and calls the
same tool again (measured: docs/benchmarks.md, "Tool tasks"). llama.cpp renders the template itself (its
Jinja engine) when it is given OpenAI's ``tools`` and turns with ``tool_calls`` and ``role: "tool"``, and
constrains a call's arguments to the tool's schema once the model opens a call. Models whose template has
no tool section (a base model such as Gemma-3-270M) keep the protocol, and so does a request that forces a
call (``tool_choice`` "required" or a named function): the protocol's grammar holds every answer to a
schema-valid call, which llama.cpp's native path does not (it reads a named choice as "auto"). A forced
call that only repeats answered calls - after a tool's result, pydantic-ai requires its output tool, and
the 1.5B called the answered tool again - is asked once more with the grammar offering only the other
tools (``domain.formats.without_repeated_tools``; both generations are paid).

After a tool's result, small models (Qwen2.5-Coder 0.5B and 1.5B) often restate the call they already
made as plain JSON instead of answering - the template's tool section invites it: the same conversation
rendered without the tools gets an answer from the result. Such an answer is refused by the cascade
(``domain.formats.only_repeats``), so when the request allows text the adapter asks the model once more
with the tools withheld (``without_tools``): the template still renders the calls and their results,
and the model can only answer in text. Measured: docs/benchmarks.md, "Tool tasks".
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

from switchboard.domain.requests import Message, ToolUse

_TEMPLATE_KEY = "tokenizer.chat_template"
_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_TOOL_CALL = re.compile(r"<tool_call>\s*(?P<body>.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_VALUE_START = re.compile(r'\{\s*"|\[\s*\{')  # where a JSON call object (or a list of them) begins
_STRAY = " \n\t{},"  # what may stand between the JSON values of a model's calls
_FENCED = re.compile(r"```(?:json)?\s*(?P<body>.*?)```", re.DOTALL)


def chat_template(path: Path) -> str | None:
    """The chat template stored in a GGUF file's metadata (None: the file has none)."""
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            return None
        f.read(4)  # version
        _tensors, count = struct.unpack("<QQ", f.read(16))

        def string() -> str:
            (n,) = struct.unpack("<Q", f.read(8))
            return f.read(n).decode("utf-8", "replace")

        for _ in range(count):
            key = string()
            (kind,) = struct.unpack("<I", f.read(4))
            if kind == 8:
                value = string()
                if key == _TEMPLATE_KEY:
                    return value
            elif kind == 9:
                item, n = struct.unpack("<IQ", f.read(12))
                if item == 8:
                    for _ in range(n):
                        string()
                else:
                    f.seek(_SCALAR_BYTES[item] * n, 1)
            else:
                f.seek(_SCALAR_BYTES[kind], 1)
    return None


def has_tool_section(template: str | None) -> bool:
    """Whether a chat template renders tools, their calls and their results itself."""
    return template is not None and "tools" in template and "tool_call" in template


def native_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """The conversation as OpenAI's chat turns (calls as ``tool_calls``, results as ``role: "tool"``),
    without the protocol's instructions: the template renders the tools itself."""
    return [turn for turn in (m.native() for m in messages) if turn is not None]


def without_tools(body: dict[str, Any]) -> dict[str, Any]:
    """A llama.cpp request body with the tools withheld: the template renders the conversation - calls and
    results included - without its tool section, and nothing constrains the answer to a call."""
    return {k: v for k, v in body.items() if k not in ("tools", "tool_choice", "parallel_tool_calls")}


def native_tool_fields(use: ToolUse) -> dict[str, Any]:
    """``tools``, ``tool_choice`` and ``parallel_tool_calls`` as llama.cpp's chat endpoint takes them. A named
    function is sent as that tool alone with ``tool_choice: "required"``: llama.cpp's chat endpoint knows
    "auto", "none" and "required", and reads OpenAI's ``{"type": "function", ...}`` as "auto" - the model
    could then answer in text, which the cascade refuses (seen with instructor's TOOLS mode)."""
    offered = [t for t in use.tools if use.named is None or t.name == use.named]
    tools = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                               "parameters": t.parameters}} for t in offered]
    choice = "required" if use.named is not None else use.choice
    return {"tools": tools, "tool_choice": choice, "parallel_tool_calls": use.parallel}


def _call(value: Any) -> dict[str, Any] | None:
    """A parsed JSON value as one call ``{"name", "arguments"}`` when it is written as one - those two keys
    and no others (a model that reports a call it made writes ``{"name", "arguments", "result"}``: that
    is an answer, not a call)."""
    if isinstance(value, dict) and set(value) == {"name", "arguments"} and isinstance(value["name"], str):
        arguments = value["arguments"]
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                pass
        return {"name": value["name"], "arguments": arguments}
    return None


def _objects(block: str) -> list[Any] | None:
    """The JSON values a block spells one after another, tolerating stray braces around each (Qwen2.5's
    template shows its call format as ``{{"name": ...}}``, and its models copy the doubled braces)."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    at, text = 0, block.strip()
    while True:
        found = _VALUE_START.search(text, at)
        if found is None:
            return values if values and not text[at:].strip(_STRAY) else None
        start = found.start()
        if text[at:start].strip(_STRAY):
            return None
        try:
            value, at = decoder.raw_decode(text, start)
        except ValueError:
            return None
        values.append(value)


def _calls_in(text: str) -> list[dict[str, Any]] | None:
    """The calls a model wrote in its own spelling: ``<tool_call>`` blocks, or (fenced) JSON call objects
    or a list of them, alone; None when the text is not calls."""
    blocks = [m.group("body") for m in _TOOL_CALL.finditer(text)]
    if not blocks:
        fenced = _FENCED.fullmatch(text.strip())
        blocks = [fenced.group("body") if fenced else text.strip()]
    calls = []
    for block in blocks:
        values = _objects(block)
        if values is None:
            return None
        for value in values:
            for item in value if isinstance(value, list) else [value]:
                call = _call(item)
                if call is None:
                    return None
                calls.append(call)
    return calls or None


def protocol_answer(text: str, calls: list[dict[str, Any]]) -> str:
    """The model's answer in the tool-call protocol: the calls llama.cpp parsed, else calls the text
    spells in the model's own form, else the text as ``{"content": ...}``. The cascade then checks it
    (``domain.formats.check_tool_answer``) as any other model's."""
    parsed = [c for c in (_call(call) for call in calls) if c is not None] or _calls_in(text)
    if parsed:
        return json.dumps({"tool_calls": parsed}, ensure_ascii=False)
    return json.dumps({"content": text.strip()}, ensure_ascii=False)
