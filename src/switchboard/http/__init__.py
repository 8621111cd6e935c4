"""The HTTP API: request parsing and checks (``chat_completions``, ``anthropic``, ``body``), responses
(``rendering``, ``sse``), errors (``errors``), the one route table (``routes``) and its endpoints
(``endpoints``), the OpenAPI document (``openapi``), and the HTTP server (``server``) that serves the local
stack and, deployed with streaming, the router inside its Lambda.

Nothing below ``switchboard.service`` sees an HTTP model: endpoints parse a request, authenticate its
caller and hand a command (``service.commands``) to one service.
"""
