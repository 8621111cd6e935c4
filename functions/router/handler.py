"""Router Lambda: the HTTP API (API Gateway REST proxy events).

Parse the body, call the router service, serialise. Every error is mapped by one table
(``switchboard.service.errors``) into OpenAI's error shape; never a stack trace.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from switchboard.composition import container
from switchboard.service import api
from switchboard.service.errors import BadRequest, MethodNotAllowed, NotFound, NotReady, http_error
from switchboard.service.openapi import openapi_document

logger = Logger(service="switchboard-router")
app = APIGatewayRestResolver()


def _body() -> dict:
    return api.parse_body(app.current_event.body, bool(app.current_event.is_base64_encoded))


def _authorization() -> str | None:
    return app.current_event.headers.get("Authorization")  # case-insensitive


def _authenticated() -> None:
    container().router().authenticate(_authorization())


@app.post("/v1/chat/completions")
def chat_completions():
    request = api.parse(api.ChatCompletionRequest, _body())
    if request.async_:
        raise BadRequest("jobs are started with POST /v1/route and \"async\": true", param="async")
    state = container().router().chat(request, _authorization())
    if request.stream:
        usage = bool(request.stream_options and request.stream_options.include_usage)
        return Response(status_code=200, content_type="text/event-stream",
                        body=api.chat_completion_stream(state, include_usage=usage),
                        headers={"Cache-Control": "no-cache"})
    return api.chat_completion_response(state)


@app.post("/v1/route")
def route():
    request = api.parse(api.ChatCompletionRequest, _body())
    if request.stream:
        raise BadRequest("/v1/route answers with the whole plan; stream only /v1/chat/completions",
                         param="stream")
    if request.async_:
        job = container().router().submit(request, _authorization())
        return Response(status_code=202, content_type="application/json", body=json.dumps(api.job_response(job)),
                        headers={"Location": f"/v1/jobs/{job.trace_id}"})
    return api.route_response(container().router().chat(request, _authorization()))


@app.get("/v1/jobs/<job_id>")
def get_job(job_id: str):
    _authenticated()
    return api.job_response(*container().router().job(job_id))


@app.get("/v1/traces/<trace_id>")
def get_trace(trace_id: str):
    _authenticated()
    return container().router().trace(trace_id).model_dump(mode="json")


@app.post("/v1/feedback")
def feedback():
    _authenticated()
    return container().router().feedback(api.parse(api.FeedbackRequest, _body()))


@app.get("/v1/models")
def models():
    _authenticated()
    return container().router().models()


@app.get("/health")
def health():
    return container().router().health()


@app.get("/openapi.json")
def openapi_json():
    return openapi_document()


@app.not_found
def _not_found(_exc):
    method, path = app.current_event.http_method, app.current_event.path
    allowed = api.methods_for(path)
    if allowed:
        return _error(MethodNotAllowed(f"{method} is not allowed on {path}; use {' or '.join(allowed)}"))
    return _error(NotFound(f"no route {method} {path}"))


@app.exception_handler(Exception)
def _error(exc: Exception) -> Response:
    status, body = http_error(exc)
    headers = {"Retry-After": str(NotReady.retry_after_s)} if status == 503 else None
    if status == 502:  # the trace holds the why; the cascade's failure is not the router's
        logger.warning("cascade failed", extra={"trace_id": body["error"].get("trace_id")})
    elif status >= 500:
        logger.exception("request failed", extra={"status": status})
    return Response(status_code=status, content_type="application/json", body=json.dumps(body), headers=headers)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    return app.resolve(event, context)
