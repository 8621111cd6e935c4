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

from .models import Message, ResponseFormat

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
    if fmt is None:
        return messages
    line = instruction(fmt)
    if messages and messages[0].role == "system":
        return [Message(role="system", content=f"{messages[0].content}\n\n{line}"), *messages[1:]]
    return [Message(role="system", content=line), *messages]


def unfenced(text: str) -> str:
    """``text`` without a Markdown code fence around the whole of it."""
    match = _FENCE.match(text)
    return match.group("body").strip() if match else text.strip()


def check_answer(text: str, fmt: ResponseFormat) -> tuple[str | None, str | None]:
    """``(json_text, None)`` when the answer meets the format - the JSON text to return - else
    ``(None, why)``."""
    body = unfenced(text)
    try:
        value = json.loads(body)
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
