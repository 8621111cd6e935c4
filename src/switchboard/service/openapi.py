"""The HTTP API's OpenAPI 3.1 document, generated from the same pydantic models that validate requests.

Served at ``GET /openapi.json`` and kept in the repository as ``docs/openapi.json`` (a test keeps the two
equal); the schemathesis run in the tests fuzzes the local server from it. Writing the document from the
models (rather than by hand) means a field added to a request model appears in the document, and a
constraint the document states is the one the handler enforces.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from switchboard.service.api import ChatCompletionRequest, FeedbackRequest
from switchboard.service.messages import MessagesRequest

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


def _body_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _responses(success: dict[str, Any], codes: tuple[str, ...]) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    out = {"200": {"description": "OK", "content": {"application/json": {"schema": success}}}}
    for code in codes:
        out[code] = {"description": ERRORS[code], **copy.deepcopy(error)}
    return out


def _anthropic(responses: dict[str, Any]) -> dict[str, Any]:
    for code, response in responses.items():
        if code != "200":
            response["content"]["application/json"]["schema"] = {"$ref": "#/components/schemas/AnthropicError"}
    return responses


def _streaming(responses: dict[str, Any]) -> dict[str, Any]:
    responses["200"]["content"]["text/event-stream"] = {"schema": {"type": "string"}}
    return responses


def openapi_document() -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA, "AnthropicError": ANTHROPIC_ERROR_SCHEMA}
    chat = _body_schema(ChatCompletionRequest, components)
    messages = _body_schema(MessagesRequest, components)
    feedback = _body_schema(FeedbackRequest, components)
    completion_errors = ("400", "401", "402", "404", "413", "429", "502", "503", "504")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard", "version": "1",
                 "description": "Self-optimising LLM gateway: OpenAI-compatible chat completions routed through "
                                "a judged cascade. Errors are OpenAI-shaped JSON."},
        "paths": {
            "/v1/chat/completions": {"post": {
                "operationId": "createChatCompletion",
                "summary": "OpenAI-compatible chat completion (stream=true: server-sent events)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": chat}}},
                "responses": _streaming(_responses(COMPLETION_SCHEMA, completion_errors))}},
            "/v1/messages": {"post": {
                "operationId": "createMessage",
                "summary": "Anthropic-compatible Messages API on the same cascade (errors in Anthropic's shape)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": messages}}},
                "responses": _streaming(_anthropic(_responses(MESSAGE_SCHEMA, completion_errors)))}},
            "/v1/route": {"post": {
                "operationId": "route", "summary": "The same request, answered with the full plan and attempts; "
                                                   "with \"async\": true a job (202; GET /v1/jobs/{id})",
                "requestBody": {"required": True, "content": {"application/json": {"schema": chat}}},
                "responses": {**_responses(ROUTE_SCHEMA, completion_errors),
                              "202": {"description": "a job was started (\"async\": true)",
                                      "content": {"application/json": {"schema": JOB_SCHEMA}}}}}},
            "/v1/jobs/{job_id}": {"get": {
                "operationId": "getJob", "summary": "A job's status, and its result or error once done",
                "parameters": [{"name": "job_id", "in": "path", "required": True,
                                "schema": {"type": "string", "minLength": 1, "maxLength": 128}}],
                "responses": _responses(JOB_SCHEMA, ("400", "401", "404", "503"))}},
            "/v1/traces/{trace_id}": {"get": {
                "operationId": "getTrace", "summary": "A stored trace",
                "parameters": [{"name": "trace_id", "in": "path", "required": True,
                                "schema": {"type": "string", "minLength": 1, "maxLength": 128}}],
                "responses": _responses({"type": "object", "required": ["trace_id", "status"]},
                                        ("400", "401", "404", "503"))}},
            "/v1/feedback": {"post": {
                "operationId": "postFeedback", "summary": "Score an answer, for the next training run",
                "requestBody": {"required": True, "content": {"application/json": {"schema": feedback}}},
                "responses": _responses({"type": "object", "required": ["trace_id", "stored"]},
                                        ("400", "401", "404", "503"))}},
            "/v1/models": {"get": {
                "operationId": "listModels", "summary": "The routing names and the catalogue's models",
                "responses": _responses({"type": "object", "required": ["object", "data"],
                                         "properties": {"object": {"const": "list"}, "data": {"type": "array"}}},
                                        ("401", "503"))}},
            "/health": {"get": {
                "operationId": "health", "summary": "Ready to route (503 with Retry-After while not)",
                "responses": _responses({"type": "object", "required": ["status"]}, ("503",))}},
            "/openapi.json": {"get": {
                "operationId": "getOpenApi", "summary": "This document",
                "responses": _responses({"type": "object", "required": ["openapi", "paths"]}, ())}},
        },
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "a key of `switchboard keys create` (required where the deployment says so)"}}},
        # Optional here: required deployed with apiAuth "keys" (the default), optional locally.
        "security": [{"bearer": []}, {}],
    }
