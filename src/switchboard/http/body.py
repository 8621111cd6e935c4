"""A request body as API Gateway delivers it: its size, its nesting, its JSON, its model."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from switchboard.http.statuses import validation_message
from switchboard.service.errors import BadRequest

Model = TypeVar("Model", bound=BaseModel)
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_JSON_DEPTH = 32


def json_depth(text: str) -> int:
    """How deeply the JSON in ``text`` nests (strings skipped): checked before parsing, so a body nested
    thousands deep is a 400 instead of a recursion error."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_body(raw: str | None, base64_encoded: bool = False) -> dict[str, Any]:
    """The JSON object of a request body (as API Gateway delivers it), or ``BadRequest`` saying why not."""
    if raw is None or raw == "":
        raise BadRequest("request body is empty; send a JSON object")
    if base64_encoded:
        try:
            raw = base64.b64decode(raw).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("request body is not valid base64") from exc
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise BadRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def parse(model: type[Model], body: dict[str, Any]) -> Model:
    """Validate ``body`` into ``model``; a validation error becomes ``BadRequest`` naming the fields."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors()
        param = ".".join(str(p) for p in errors[0]["loc"] if not isinstance(p, int) or p) if errors else None
        raise BadRequest(validation_message(exc), param=param or None) from exc


# The API's routes (method, path pattern); the router handler serves exactly these.
