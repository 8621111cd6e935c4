"""JSON Schemas of the API's responses and errors, for the OpenAPI document (``http.openapi``), and what
each error status means."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"}, "code": {"type": "string"},
        "param": {"type": ["string", "null"]}, "trace_id": {"type": "string"}}}},
}
COMPLETION_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "object", "model", "choices", "usage", "switchboard"],
    "properties": {
        "id": {"type": "string"}, "object": {"const": "chat.completion"}, "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["message"]}},
        "usage": {"type": "object"}, "switchboard": {"type": "object", "required": ["trace_id"]}},
}
ROUTE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["trace_id", "answer", "model", "plan", "attempts", "decision"],
    "properties": {"trace_id": {"type": "string"}, "answer": {"type": ["string", "null"]},
                   "tool_calls": {"type": ["array", "null"]}, "model": {"type": "string"},
                   "plan": {"type": "object"}, "attempts": {"type": "array"}, "decision": {"type": "object"},
                   "switchboard": {"type": "object"}},
}
JOB_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "object", "status", "trace_id"],
    "properties": {"id": {"type": "string"}, "object": {"const": "job"}, "trace_id": {"type": "string"},
                   "status": {"enum": ["running", "succeeded", "failed"]}, "created_at": {"type": "string"},
                   "result": ROUTE_SCHEMA, "error": {"type": "object"}},
}
# What every operation may answer besides its success: the statuses of service.errors' table.
ANTHROPIC_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "error"],
    "properties": {"type": {"const": "error"}, "error": {"type": "object", "required": ["type", "message"],
                                                         "properties": {"type": {"type": "string"},
                                                                        "message": {"type": "string"}}}},
}
MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "type", "role", "model", "content", "stop_reason", "usage", "switchboard"],
    "properties": {"type": {"const": "message"}, "role": {"const": "assistant"}, "content": {"type": "array"},
                   "usage": {"type": "object", "required": ["input_tokens", "output_tokens"]}},
}
RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "object", "created_at", "status", "model", "output", "usage", "switchboard"],
    "properties": {"id": {"type": "string"}, "object": {"const": "response"}, "created_at": {"type": "integer"},
                   "status": {"enum": ["completed", "incomplete"]}, "model": {"type": "string"},
                   "output": {"type": "array", "items": {"type": "object", "required": ["type"]}},
                   "usage": {"type": "object", "required": ["input_tokens", "output_tokens", "total_tokens"]},
                   "metadata": {"type": "object"}, "switchboard": {"type": "object", "required": ["trace_id"]}},
}
ERRORS = {
    "400": "the request is malformed or asks for something unsupported",
    "401": "missing (where keys are required), unknown or revoked API key (Authorization: Bearer)",
    "402": "max_cost_usd cannot pay for any plan of this request (nothing was spent)",
    "404": "unknown model, profile, trace or route",
    "413": "the request is too large",
    "429": "the API key's budget has too little left for this request (nothing was spent)",
    "502": "no model could answer (the body names the trace)",
    "503": "storage is unavailable, or nothing to route to yet (Retry-After says when to retry)",
    "504": "no model answered before the request's deadline (the body names the trace)",
}
