"""The router as an HTTP server inside its Lambda, for API Gateway's ``STREAM`` response transfer mode.

Python Lambdas cannot stream a response themselves (Lambda streams natively from Node.js runtimes only);
with the Lambda Web Adapter extension (``AWS_LWA_INVOKE_MODE=response_stream``) the function instead runs
this server and the adapter streams whatever it writes. The server is the local stack's
(``switchboard.http.server.LocalServer``: an HTTP request becomes the API Gateway event the handler knows),
over this process's router handler (``handler.lambda_handler``); a route that streams is served from this
process's services as it is produced. Started by ``run.sh``.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from switchboard.composition import container
from switchboard.http.server import LocalServer
from switchboard.service.assembly import Services

from . import handler


@dataclass
class _Context:
    """The Lambda context fields Powertools reads (the adapter forwards requests, not the context)."""

    function_name: str
    memory_limit_in_mb: int = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"))
    aws_request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    invoked_function_arn: str = ""


class InProcessRouter:
    """The router handler of this process, as the server's backend (what ``LocalStack`` is locally)."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def invoke_router(self, event: dict) -> dict:
        result: dict[str, Any] = handler.lambda_handler(event, _Context(function_name=self.function_name))
        return result

    def services(self) -> Services:
        return container().services()


def main() -> None:
    port = int(os.environ.get("AWS_LWA_PORT") or os.environ.get("PORT") or "8080")
    server = LocalServer(InProcessRouter(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "router")),
                         host="127.0.0.1", port=port, behind_web_adapter=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
