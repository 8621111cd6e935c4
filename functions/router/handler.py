"""Router Lambda: the HTTP API (API Gateway REST proxy events). A Powertools resolver over the one route
table (``switchboard.http.routes``): each route's endpoint gets the request and the services and answers;
every error is mapped by the one status table into OpenAI's error shape (Anthropic's on ``/v1/messages``)."""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from switchboard.composition import container, warm_ahead_of_traffic
from switchboard.http.endpoints import HttpRequest, HttpResponse
from switchboard.http.routes import ROUTES, Route, unrouted
from switchboard.service import telemetry

logger = Logger(service="switchboard-router")
tracer = Tracer(service="switchboard-router")  # X-Ray: the handler and every AWS SDK call; off outside Lambda
telemetry.use_xray(tracer)  # and a subsegment per model call (a streamed tier's)
_threads = threading.local()
warm_ahead_of_traffic()  # the encoder at init, when Lambda initialises this environment ahead of traffic


def _resolver() -> APIGatewayRestResolver:
    """This thread's resolver. Powertools keeps the event a resolver serves on the resolver (and on its
    class), which is right for Lambda - one request per process at a time - but the HTTP server runs
    requests on threads of one process: each thread gets its own resolver, and ``lambda_handler`` sets the
    event on it, so two requests at once never read each other's body, path or route."""
    app: APIGatewayRestResolver | None = getattr(_threads, "app", None)
    if app is None:
        app = _threads.app = APIGatewayRestResolver()
        for route in ROUTES:
            app.route(route.resolver_path, route.method)(_view(app, route))
        app.not_found(lambda _exc: _response(unrouted(app.current_event.http_method, app.current_event.path)))
    return app


def _view(app: APIGatewayRestResolver, route: Route) -> Any:
    def view(**params: str) -> Response:
        request = HttpRequest.of_rest_event(app.current_event.raw_event, params)
        return _response(route.serve(request, container().services()))

    return view


def _response(response: HttpResponse) -> Response:
    return Response(status_code=response.status, content_type=response.content_type, body=response.body,
                    headers=response.headers or None)


@tracer.capture_lambda_handler(capture_response=False)  # no prompt or answer in X-Ray
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    app = _resolver()
    app.current_event = APIGatewayProxyEvent(event)  # this request's, on this thread's resolver
    return app.resolve(event, context)
