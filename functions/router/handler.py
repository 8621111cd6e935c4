"""Router Lambda: the HTTP API (API Gateway REST proxy events).

Thin adapter: parse and validate the request, call RouterService, serialise. Every error leaves as a JSON
body in OpenAI's error shape with a 4xx/5xx status and a message; never a stack trace.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from pydantic import ValidationError

from switchboard.adapters.orchestration import PollingOrchestrator, SyncExpressOrchestrator
from switchboard.adapters.stores.dynamo import DynamoCatalog, DynamoTaxonomy, DynamoTraces, StoreError
from switchboard.domain.planner import PlanningError
from switchboard.service.api import (
    ChatCompletionRequest,
    FeedbackRequest,
    PromptTooLarge,
    chat_completion_response,
    switchboard_extension,
)
from switchboard.service.router import CascadeFailed, RouterService, now_iso
from switchboard.service.settings import RouterSettings

logger = Logger(service="switchboard-router")
app = APIGatewayRestResolver()

_service: RouterService | None = None
_settings: RouterSettings | None = None


def settings() -> RouterSettings:
    global _settings
    if _settings is None:
        _settings = RouterSettings.from_env()
    return _settings


def service() -> RouterService:
    """Composition root, built once per warm container."""
    global _service
    if _service is None:
        s = settings()
        from switchboard.adapters.encoder import get_encoder
        from switchboard.service.learned import LearnedRouterUnavailable, load_learned_router

        try:
            learned = load_learned_router()
        except LearnedRouterUnavailable:  # synth checks the artifacts; if they still break, keep serving
            logger.exception("learned router unavailable; routing with the taxonomy and default plan only")
            learned = None

        orchestrator = (SyncExpressOrchestrator(s.state_machine_arn) if s.orchestration == "sync"
                        else PollingOrchestrator(s.state_machine_arn))
        _service = RouterService(catalog=DynamoCatalog(s.catalog_table), taxonomy=DynamoTaxonomy(s.taxonomy_table),
                                 orchestrator=orchestrator, traces=DynamoTraces(s.traces_table),
                                 encoder_factory=get_encoder, learned=learned,
                                 trace_ttl_days=s.trace_ttl_days)
    return _service


def set_service(svc: RouterService | None, cfg: RouterSettings | None = None) -> None:
    """Inject a service (functional tests, local stack)."""
    global _service, _settings
    _service, _settings = svc, cfg


def error(status: int, message: str, kind: str, **extra: Any) -> Response:
    body = {"error": {"message": message, "type": kind, "code": status, **extra}}
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


def _json_body() -> dict:
    raw = app.current_event.body
    if raw is None or raw == "":
        raise _BadRequest("request body is empty; send a JSON object")
    if app.current_event.is_base64_encoded:
        import base64

        raw = base64.b64decode(raw).decode("utf-8", errors="replace")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _BadRequest(f"request body is not valid JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(body, dict):
        raise _BadRequest("request body must be a JSON object")
    return body


class _BadRequest(ValueError):
    pass


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _parse_chat() -> ChatCompletionRequest:
    try:
        return ChatCompletionRequest.model_validate(_json_body())
    except ValidationError as exc:
        raise _BadRequest(_validation_message(exc)) from exc


def _run(request: ChatCompletionRequest):
    domain_request = request.to_domain(settings().max_prompt_chars)
    return service().complete(domain_request, pinned_model=request.pinned_model())


@app.post("/v1/chat/completions")
def chat_completions():
    state = _run(_parse_chat())
    return chat_completion_response(state)


@app.post("/v1/route")
def route():
    state = _run(_parse_chat())
    response = chat_completion_response(state)
    return {"trace_id": state.request_id, "answer": response["choices"][0]["message"]["content"],
            "model": response["model"], "switchboard": switchboard_extension(state),
            "plan": state.plan.model_dump(), "attempts": [a.model_dump() for a in state.attempts],
            "decision": state.decision.model_dump() if state.decision else None}


@app.get("/v1/traces/<trace_id>")
def get_trace(trace_id: str):
    trace = service().traces.get(trace_id)
    if trace is None:
        return error(404, f"no trace with id '{trace_id}' (traces expire after their TTL)", "not_found")
    return trace.model_dump(mode="json")


@app.post("/v1/feedback")
def feedback():
    try:
        body = FeedbackRequest.model_validate(_json_body())
    except ValidationError as exc:
        raise _BadRequest(_validation_message(exc)) from exc
    stored = service().traces.add_feedback(body.trace_id, {"score": body.score, "comment": body.comment,
                                                           "at": now_iso()})
    if not stored:
        return error(404, f"no trace with id '{body.trace_id}'", "not_found")
    return {"trace_id": body.trace_id, "stored": True}


@app.exception_handler(PromptTooLarge)
def _too_large(exc: PromptTooLarge):
    return error(413, str(exc), "invalid_request_error")


@app.exception_handler(PlanningError)
def _planning(exc: PlanningError):
    return error(404 if "unknown model" in str(exc) else 400, str(exc), "invalid_request_error")


@app.exception_handler(ValueError)
def _bad_request(exc: ValueError):
    return error(400, str(exc), "invalid_request_error")


@app.exception_handler(ValidationError)
def _invalid(exc: ValidationError):
    return error(400, _validation_message(exc), "invalid_request_error")


@app.exception_handler(CascadeFailed)
def _cascade_failed(exc: CascadeFailed):
    logger.warning("cascade failed", extra={"trace_id": exc.trace_id, "reason": str(exc)[:500]})
    return error(502, f"no model could answer: {exc}", "upstream_error", trace_id=exc.trace_id)


@app.exception_handler(StoreError)
def _store(exc: StoreError):
    logger.error("store unavailable", extra={"reason": str(exc)[:500]})
    return error(503, "storage is unavailable; retry later", "service_unavailable")


@app.exception_handler(Exception)
def _unexpected(exc: Exception):
    logger.exception("unhandled error")
    return error(500, "internal error; the request id is in the response headers of API Gateway",
                 "internal_error")


@app.not_found
def _not_found(_exc):
    return error(404, f"no route {app.current_event.http_method} {app.current_event.path}", "not_found")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    return app.resolve(event, context)
