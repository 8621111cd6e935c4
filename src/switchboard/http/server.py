"""The HTTP server in front of the router handler: each request becomes an API Gateway REST proxy event
for the handler, and its response becomes the HTTP response; a route that streams (``Route.stream``: a
chat completion with ``stream: true``) is written as it is produced, from the services of this process. It
serves the local stack (``switchboard local``) and, deployed with ``switchboard:streaming``, the router
inside its own Lambda under the Lambda Web Adapter (``functions/router/serve.py``). Binds to 127.0.0.1 by
default."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from switchboard.http.body import MAX_BODY_BYTES
from switchboard.http.endpoints import HttpRequest, StreamedResponse, principal_of
from switchboard.http.routes import find
from switchboard.service.assembly import Services


class RouterBackend(Protocol):
    """What serves the requests: the local stack, or the router handler of this process. ``invoke_router``
    answers an API Gateway event through the router handler. A backend may also have ``services()``: the
    services the handler runs on, which the routes that stream are served from as they are produced
    (without it, every request goes through ``invoke_router``)."""

    def invoke_router(self, event: dict) -> dict: ...


log = logging.getLogger(__name__)


# The Lambda Web Adapter forwards API Gateway's request context (identity included) in this header. Only the
# router's server under the adapter (``router.serve``) reads it; anywhere else a client could send it.
REQUEST_CONTEXT_HEADER = "x-amzn-request-context"


def gateway_identity(headers: dict[str, str], trusted: bool) -> dict[str, Any]:
    """The caller's identity as API Gateway authenticated it, from the Web Adapter's request-context header
    when the server runs behind the adapter (``trusted``); {} otherwise, or when the header is unreadable."""
    raw = headers.get(REQUEST_CONTEXT_HEADER) if trusted else None
    if not raw:
        return {}
    try:
        identity = json.loads(raw).get("identity")
    except (ValueError, AttributeError):
        return {}
    return identity if isinstance(identity, dict) else {}


def api_gateway_event(method: str, raw_path: str, headers: dict[str, str], body: bytes,
                      identity: dict[str, Any] | None = None) -> dict:
    """The REST API (v1) proxy event API Gateway would send for this request (``identity``: what API
    Gateway authenticated, where the server knows it)."""
    parts = urlsplit(raw_path)
    query = dict(parse_qsl(parts.query)) or None
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode("ascii"), True
    return {
        "resource": parts.path,
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": parts.path, "httpMethod": method, "path": f"/local{parts.path}", "stage": "local",
            "requestId": str(uuid.uuid4()), "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", ""), **(identity or {})},
            "accountId": "123456789012", "apiId": "local",
        },
        "body": text if body else None,
        "isBase64Encoded": is_b64,
    }


def response_headers(result: dict) -> dict[str, str]:
    """The headers of a Lambda proxy response, as API Gateway returns them: ``multiValueHeaders`` (what
    Powertools sets) merged with ``headers``; JSON when the handler named no Content-Type."""
    headers = {k: ", ".join(str(x) for x in v) for k, v in (result.get("multiValueHeaders") or {}).items() if v}
    headers.update({k: str(v) for k, v in (result.get("headers") or {}).items()})
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    return headers


def _streamed(method: str, raw_path: str, headers: dict[str, str], body: bytes,
              backend: RouterBackend, identity: dict[str, Any]) -> StreamedResponse | None:
    """The response of a route that streams, when the request asks for a stream; else None."""
    services: Callable[[], Services] | None = getattr(backend, "services", None)
    path = urlsplit(raw_path).path
    found = find(method, path)
    if services is None or found is None or found[0].stream is None:
        return None
    route, params = found
    assert route.stream is not None
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode("ascii"), True
    return route.stream(HttpRequest(method, path, headers, text if body else None, is_b64, params,
                                    principal=principal_of({"identity": identity})), services())


def make_handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "switchboard-local"
        # The status line and headers, then the body, are two writes: with Nagle's algorithm on, the body
        # waits for the client's delayed ACK of the headers (40 ms on Linux) on a kept-alive connection.
        disable_nagle_algorithm = True

        def log_message(self, fmt: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), fmt % args)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("content-length", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":  # a HEAD response carries the headers of the GET, never a body
                self.wfile.write(body)

        def _stream(self, status: int, headers: dict[str, str], pieces: Iterator[bytes]) -> None:
            """Send each piece as it comes (HTTP/1.1 chunked transfer); an error status is one JSON body."""
            if status != 200:
                self._send(status, headers, b"".join(pieces))
                return
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for piece in pieces:
                    if piece:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:  # the client went away: stop producing (the generator's cleanup still runs)
                self.close_connection = True
            finally:
                close = getattr(pieces, "close", None)
                if close is not None:
                    close()

        def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
            code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(status, "invalid_request")
            body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                         "code": code}})
            self._send(status, {"Content-Type": "application/json", **(headers or {})}, body.encode())

        def _proxy(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length < 0:
                    raise ValueError(length)
            except ValueError:
                self._error(400, "Content-Length must be a non-negative integer")
                self.close_connection = True
                return
            if length > MAX_BODY_BYTES:
                self._error(413, f"request body exceeds {MAX_BODY_BYTES} bytes")
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            identity = gateway_identity(headers, server.behind_web_adapter)
            event = api_gateway_event(self.command, self.path, headers, body, identity)
            if server.stack is None:
                self._error(503, "Switchboard is still starting; retry in a few seconds", {"Retry-After": "5"})
                return
            streamed = _streamed(self.command, self.path, headers, body, server.stack, identity)
            if streamed is not None:
                self._stream(streamed.status, streamed.headers, streamed.pieces)
                return
            result = server.stack.invoke_router(event)
            payload = result.get("body") or ""
            data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode("utf-8")
            self._send(int(result.get("statusCode", 500)), response_headers(result), data)

        def __getattr__(self, name: str):  # noqa: ANN204 - any HTTP method reaches the router (JSON 405/404)
            if name.startswith("do_"):
                return self._proxy
            raise AttributeError(name)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """The stdlib's own errors (a malformed request line, a header too long) in OpenAI's JSON shape."""
            self.close_connection = True
            self._error(code, message or explain or "bad request")

    return Handler


class _Server(ThreadingHTTPServer):
    # The listen backlog: socketserver's default of 5 overflows when a few dozen clients connect at once
    # (benchmarks/load.py's 32), and Linux then drops their handshakes, which clients see as reset reads
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up is not an error of the server; anything else is logged (the stdlib
        prints a traceback to stderr)."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            log.info("client %s went away", client_address)
            return
        log.exception("error while serving %s", client_address)


class LocalServer:
    """Binds at construction (so a busy port fails at once); ``stack`` may be attached later."""

    def __init__(self, stack: RouterBackend | None, host: str = "127.0.0.1", port: int = 8080,
                 behind_web_adapter: bool = False) -> None:
        self.stack = stack
        self.behind_web_adapter = behind_web_adapter  # read the caller's identity from the adapter's header
        self.httpd = _Server((host, port), make_handler(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    def attach(self, stack: RouterBackend) -> None:
        self.stack = stack

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def start_background(self) -> LocalServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="switchboard-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        # shutdown() waits for serve_forever to return: only ask when it runs, or it would wait forever
        if self._thread is not None and self._thread.is_alive():
            self.httpd.shutdown()
            self._thread.join(timeout=10)
        self.httpd.server_close()
