"""The local stack's HTTP server: ``switchboard.service.http_server`` (the same server runs the router in
its Lambda when responses are streamed), re-exported under its historical name."""

from switchboard.service.http_server import (  # noqa: F401 - re-exported
    MAX_BODY_BYTES,
    LocalServer,
    RouterBackend,
    api_gateway_event,
    response_headers,
)
