"""The HTTP API's OpenAPI 3.1 document, generated from the route table and the same pydantic models that
validate requests.

Built from the route table (``http.routes.document()``), served at ``GET /openapi.json`` and kept in the repository as ``docs/openapi.json`` (a test keeps the two
equal); the schemathesis run in the tests fuzzes the local server from it. Writing the document from the
models (rather than by hand) means a field added to a request model appears in the document, and a
constraint the document states is the one the handler enforces.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from switchboard.http.schemas import ANTHROPIC_ERROR_SCHEMA, ERROR_SCHEMA, ERRORS


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


class Documented(Protocol):
    """What the document reads of a route (``http.routes.Route``)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def operation_id(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def success(self) -> dict[str, Any]: ...
    @property
    def errors(self) -> tuple[str, ...]: ...
    @property
    def body(self) -> type[BaseModel] | None: ...
    @property
    def anthropic(self) -> bool: ...
    @property
    def event_stream(self) -> bool: ...
    @property
    def extra_responses(self) -> Mapping[str, Any]: ...
    @property
    def params(self) -> list[str]: ...


def _operation(route: Documented, components: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary}
    if route.params:
        operation["parameters"] = [{"name": name, "in": "path", "required": True,
                                    "schema": {"type": "string", "minLength": 1, "maxLength": 128}}
                                   for name in route.params]
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": _body_schema(route.body, components)}}}
    responses = _responses(route.success, route.errors)
    if route.anthropic:
        responses = _anthropic(responses)
    if route.event_stream:
        responses = _streaming(responses)
    operation["responses"] = {**responses, **copy.deepcopy(dict(route.extra_responses))}
    return operation


def openapi_document(routes: Sequence[Documented]) -> dict[str, Any]:
    """The document of ``routes`` (the API's: ``http.routes.document()``)."""
    components: dict[str, Any] = {"Error": ERROR_SCHEMA, "AnthropicError": ANTHROPIC_ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard", "version": "1",
                 "description": "Self-optimising LLM gateway: OpenAI-compatible chat completions routed through "
                                "a judged cascade. Errors are OpenAI-shaped JSON."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "a key of `switchboard keys create` (required where the deployment says so)"}}},
        # Optional here: required deployed with apiAuth "keys" (the default), optional locally.
        "security": [{"bearer": []}, {}],
    }
