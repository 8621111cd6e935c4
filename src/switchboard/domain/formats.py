"""Structured answers (OpenAI's ``response_format``): the instruction every model is given, and the free,
deterministic check every answer must pass before the cascade may return it.

A request with ``{"type": "json_object"}`` gets a JSON object; with ``{"type": "json_schema", ...}`` a JSON
value valid against the schema (JSON Schema, checked with the ``jsonschema`` library rather than by hand).
Providers that can constrain their output do (local GGUF models compile the schema to a grammar; an
OpenAI-compatible endpoint is sent ``response_format``); every model is also told in a system line, so a
provider without a JSON mode (Anthropic, Bedrock) can comply too. Whatever the provider did, the answer is
checked here: an answer that fails is never returned - the tier counts as failed and the cascade falls
through to the next one, and a request no model could answer in the format gets an error, not invalid JSON.

A model that wraps its JSON in a Markdown code fence (small models often do) has the fence removed: the
returned content is the JSON text alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .requests import Message, ResponseFormat, ToolCall, ToolUse

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*[ \t]*\n(?P<body>.*?)\n?```\s*$", re.DOTALL)
MAX_SCHEMA_CHARS = 4000  # the schema shown to models (it is checked in full either way)


class SchemaError(ValueError):
    """The ``json_schema`` given is not a valid JSON Schema."""


def check_schema(schema: dict[str, Any]) -> None:
    """Raise ``SchemaError`` (with the validator's reason) unless ``schema`` is a valid JSON Schema."""
    from jsonschema import exceptions, validators

    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as exc:
        raise SchemaError(exc.message) from None


def instruction(fmt: ResponseFormat) -> str:
    """The system line every model of the cascade is given."""
    if fmt.type == "json_object":
        return "Reply with a single JSON object and nothing else: no prose, no code fence."
    schema = json.dumps(fmt.json_schema or {}, separators=(",", ":"))[:MAX_SCHEMA_CHARS]
    return ("Reply with JSON only - no prose, no code fence - that is valid against this JSON Schema: "
            f"{schema}")


def with_instruction(messages: list[Message], fmt: ResponseFormat | None) -> list[Message]:
    """``messages`` with the format's instruction in the system message (merged into the first one when
    the conversation has one: chat templates of small models accept a single system message)."""
    return messages if fmt is None else with_system_line(messages, instruction(fmt))


def with_system_line(messages: list[Message], line: str) -> list[Message]:
    """``messages`` with ``line`` appended to the system message (merged into the first one when the
    conversation has one: chat templates of small models accept a single system message)."""
    if messages and messages[0].role == "system":
        first = messages[0]
        raw = first.content if first.raw is None else first.raw
        return [first.model_copy(update={"content": f"{first.content}\n\n{line}", "raw": raw}), *messages[1:]]
    return [Message(role="system", content=line, raw=""), *messages]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str) -> Any:
    """``json.loads`` without Python's extensions (``NaN``, ``Infinity``): what a JSON client can parse."""
    return json.loads(text, parse_constant=_no_constant)


def unfenced(text: str) -> str:
    """``text`` without a Markdown code fence around the whole of it."""
    match = _FENCE.match(text)
    return match.group("body").strip() if match else text.strip()


def check_answer(text: str, fmt: ResponseFormat) -> tuple[str | None, str | None]:
    """``(json_text, None)`` when the answer meets the format - the JSON text to return - else
    ``(None, why)``."""
    body = unfenced(text)
    try:
        value = strict_json(body)
    except ValueError as exc:
        return None, f"the answer is not JSON ({exc.args[0][:80] if exc.args else 'unparsable'})"
    if fmt.type == "json_object":
        if not isinstance(value, dict):
            return None, f"the answer is JSON but not an object (a {type(value).__name__})"
        return body, None
    from jsonschema import validators

    schema = fmt.json_schema or {}
    validator = validators.validator_for(schema)(schema)
    error = next(iter(sorted(validator.iter_errors(value), key=lambda e: list(e.path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.path) or "(root)"
        return None, f"the answer does not match the schema at {where}: {error.message[:120]}"
    return body, None


# --------------------------------------------------------------------------------------------- tools
#
# Tool calling is one protocol for every provider: the model answers with a JSON object, either
# {"tool_calls": [{"name": ..., "arguments": {...}}, ...]} or {"content": "..."} (the latter only when
# tool_choice is "auto"). Every model is told the tools and the protocol in the system message; providers
# that can constrain their output are given the protocol's JSON Schema (local GGUF models then cannot
# produce anything else); and every answer is checked here - each call names an offered tool and its
# arguments are valid against that tool's JSON Schema - before the cascade may return it. One protocol
# rather than each provider's native tool API: the check, the agreement between models' answers and the
# trace are the same whoever answered.

def _rooted(name: str, schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` (a tool's parameters) made to live under the protocol's ``$defs``: its own ``$defs`` /
    ``definitions`` move there under the tool's prefix and every local ``$ref`` is rewritten to match
    (pydantic and the SDKs write ``{"$ref": "#/$defs/X"}`` into tool schemas)."""
    prefix = f"{name}__"

    def ref(target: str) -> str:
        if not target.startswith("#"):
            return target  # a remote reference: left as it is
        pointer = target[1:]
        for section in ("/$defs/", "/definitions/"):
            if pointer.startswith(section):
                return f"#/$defs/{prefix}{pointer[len(section):]}"
        return f"#/$defs/{prefix}root{pointer}"

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (ref(v) if k == "$ref" and isinstance(v, str) else walk(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    if not isinstance(schema, dict):
        return schema
    body = dict(schema)
    for section in ("$defs", "definitions"):
        for key, value in (body.pop(section, None) or {}).items():
            defs[f"{prefix}{key}"] = walk(value)
    defs[f"{prefix}root"] = walk(body)
    return {"$ref": f"#/$defs/{prefix}root"}


def tool_protocol_schema(use: ToolUse) -> dict[str, Any]:
    """The JSON Schema of an answer under ``use`` (each tool's parameters under ``$defs``)."""
    tools = [t for t in use.tools if use.named is None or t.name == use.named]
    defs: dict[str, Any] = {}
    arguments = {t.name: _rooted(t.name, t.parameters, defs) for t in tools}
    call = {"oneOf": [{"type": "object", "properties": {"name": {"const": t.name}, "arguments": arguments[t.name]},
                       "required": ["name", "arguments"], "additionalProperties": False} for t in tools]}
    calls: dict[str, Any] = {"type": "object", "properties": {
        "tool_calls": {"type": "array", "items": call, "minItems": 1, **({} if use.parallel else {"maxItems": 1})}},
        "required": ["tool_calls"], "additionalProperties": False}
    if not use.text_allowed:
        return {**calls, "$defs": defs}
    text = {"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"],
            "additionalProperties": False}
    return {"oneOf": [calls, text], "$defs": defs}


def tool_format(use: ToolUse) -> ResponseFormat:
    """The response format providers are given for a request with tools."""
    return ResponseFormat.model_validate({"type": "json_schema", "name": "tool_calls",
                                          "schema": tool_protocol_schema(use)})


def tool_instruction(use: ToolUse) -> str:
    """The system text that offers the tools and states the protocol."""
    listed = "\n".join(f"- {t.name}: {t.description or '(no description)'} Arguments (JSON Schema): "
                       f"{json.dumps(t.parameters, separators=(',', ':'))[:MAX_SCHEMA_CHARS]}" for t in use.tools)
    call = '{"tool_calls": [{"name": "<tool name>", "arguments": {...}}]}'
    if use.named is not None:
        how = f"You must call the tool {use.named}: reply with JSON only: {call}."
    elif use.choice == "auto":
        how = (f"To call tools, reply with JSON only: {call}. To answer without a tool, reply with JSON only: "
               '{"content": "<your answer>"}.')
    else:
        how = f"You must call at least one tool: reply with JSON only: {call}."
    one = "" if use.parallel else " Make exactly one call."
    return f"You can call these tools:\n{listed}\n{how}{one} No prose outside the JSON, no code fence."


def with_tools(messages: list[Message], use: ToolUse | None) -> list[Message]:
    """``messages`` with the tools offered in the system message (merged into the first one)."""
    return messages if use is None else with_system_line(messages, tool_instruction(use))


def answered_calls(messages: list[Message]) -> list[str]:
    """The keys (``ToolCall.key``) of the calls of the conversation that a later tool turn answered."""
    answered = {m.tool_call_id for m in messages if m.tool_call_id is not None}
    return sorted({c.key() for m in messages for c in m.tool_calls if c.id in answered})


def unanswered_result(messages: list[Message]) -> str | None:
    """The id of the first tool result that answers no call of an earlier assistant turn (None: all do)."""
    called: set[str] = set()
    for message in messages:
        if message.tool_call_id is not None and message.tool_call_id not in called:
            return message.tool_call_id
        called.update(c.id for c in message.tool_calls)
    return None


def _answered(name: str, arguments: Any, use: ToolUse) -> bool:
    return ToolCall(id="", name=name, arguments=arguments).key() in use.answered


def only_repeats(text: str, use: ToolUse) -> bool:
    """Whether an answer in the protocol makes calls and every one of them repeats a call the conversation
    already answered (such an answer is refused: ``check_tool_answer``) - when text is allowed, the model
    restated the conversation instead of answering from the results."""
    try:
        value = strict_json(unfenced(text))
    except ValueError:
        return False
    calls = value.get("tool_calls") if isinstance(value, dict) else None
    if not isinstance(calls, list) or not calls:
        return False
    return all(isinstance(c, dict) and isinstance(c.get("name"), str) and _answered(c["name"], c.get("arguments"), use)
               for c in calls)


def without_repeated_tools(text: str, use: ToolUse) -> ToolUse | None:
    """For a forced call (``tool_choice`` "required", no named function) whose answer only repeats calls the
    conversation already answered: the same tool use without the tools it called again, so that the model
    can be asked once more for one of the others (an agent framework's output tool, say); None otherwise,
    or when no tool would be left."""
    if use.text_allowed or use.named is not None or not only_repeats(text, use):
        return None
    repeated = {c["name"] for c in strict_json(unfenced(text))["tool_calls"]}
    rest = [t for t in use.tools if t.name not in repeated]
    return use.model_copy(update={"tools": rest}) if rest else None


def check_tool_answer(text: str, use: ToolUse) -> tuple[dict[str, Any] | None, str | None]:
    """``(answer, None)`` when the answer follows the protocol - ``{"tool_calls": [{"name", "arguments"}]}``
    or ``{"content": str}`` - with every call naming an offered tool and arguments valid against its
    schema; else ``(None, why)``."""
    from jsonschema import validators

    body = unfenced(text)
    try:
        value = strict_json(body)
    except ValueError:
        return None, "the answer is not JSON (the tool-call protocol is JSON)"
    if not isinstance(value, dict):
        return None, "the answer is not a JSON object"
    if set(value) == {"content"} and isinstance(value["content"], str):
        if not use.text_allowed:
            return None, f"the answer calls no tool but tool_choice is {use.describe()}"
        return {"content": value["content"]}, None
    calls = value.get("tool_calls")
    if set(value) != {"tool_calls"} or not isinstance(calls, list) or not calls:
        return None, 'the answer is neither {"tool_calls": [...]} nor {"content": "..."}'
    if len(calls) > 1 and not use.parallel:
        return None, f"the answer makes {len(calls)} calls but parallel_tool_calls is false"
    tools = {t.name: t for t in use.tools}
    checked = []
    for i, call in enumerate(calls):
        if not isinstance(call, dict) or set(call) != {"name", "arguments"}:
            return None, f"call {i} is not {{\"name\", \"arguments\"}}"
        tool = tools.get(call["name"]) if isinstance(call["name"], str) else None
        if tool is not None and _answered(tool.name, call["arguments"], use):
            return None, (f"call {i} repeats a call to {tool.name} already answered in the conversation "
                          "(its result is there)")
        if tool is None:
            return None, f"call {i} names no offered tool ({str(call['name'])[:40]!r})"
        if use.named is not None and tool.name != use.named:
            return None, f"call {i} is to {tool.name!r} but tool_choice is {use.describe()}"
        validator = validators.validator_for(tool.parameters)(tool.parameters)
        error = next(iter(sorted(validator.iter_errors(call["arguments"]), key=lambda e: list(e.path))), None)
        if error is not None:
            where = "/".join(str(p) for p in error.path) or "(root)"
            return None, f"call {i} to {tool.name}: arguments invalid at {where}: {error.message[:120]}"
        checked.append({"name": tool.name, "arguments": call["arguments"]})
    return {"tool_calls": checked}, None


def structured(request_format: ResponseFormat | None, use: ToolUse | None) -> ResponseFormat | None:
    """The JSON format providers are asked for: the request's own, or the tool-call protocol's."""
    return tool_format(use) if use is not None else request_format


def check(text: str, request_format: ResponseFormat | None, use: ToolUse | None) -> str | None:
    """Why the answer can never be returned (None when it can): the tool-call protocol with the request's
    tools, else the request's response format."""
    if use is not None:
        return check_tool_answer(text, use)[1]
    if request_format is not None:
        return check_answer(text, request_format)[1]
    return None


def canonical_json(text: str) -> str | None:
    """The answer's JSON in one canonical spelling (sorted keys, no spaces), for comparing answers; None
    when it is not JSON."""
    try:
        return json.dumps(strict_json(unfenced(text)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return None
