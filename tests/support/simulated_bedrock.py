"""SimulatedBedrockRuntime: a loopback HTTP server that answers Amazon Bedrock's Converse API
(``POST /model/{modelId}/converse``) with canned text, for tests that run the real Bedrock adapter (boto3,
SigV4, the request and response shapes) without AWS. It is a simulation: no model runs; a prompt that asks
for a verdict gets ``VERDICT: CORRECT``, any other prompt a fixed answer. It records each call's model id.

    with SimulatedBedrockRuntime() as bedrock:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock.url)
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

ANSWER = "def total(numbers):\n    return sum(numbers)"


@dataclass
class SimulatedBedrockRuntime:
    answer: str = ANSWER
    calls: list[str] = field(default_factory=list)  # model ids, in the order they were called
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SimulatedBedrockRuntime:
        simulation = self

        class Handler(_Converse):
            owner = simulation

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SimulatedBedrockRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reply(self, body: dict[str, Any]) -> str:
        texts = [c.get("text", "") for m in body.get("messages", []) for c in m.get("content", [])]
        texts += [s.get("text", "") for s in body.get("system", [])]
        return "VERDICT: CORRECT" if any("VERDICT" in t for t in texts) else self.answer


class _Converse(BaseHTTPRequestHandler):
    owner: SimulatedBedrockRuntime

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        parts = self.path.split("/")
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if len(parts) != 4 or parts[1] != "model" or parts[3] != "converse":
            return self._send(404, {"message": f"the simulation answers Converse only, not {self.path}"},
                              error="ResourceNotFoundException")
        model_id = unquote(parts[2])
        self.owner.calls.append(model_id)
        text = self.owner.reply(body)
        tokens_in = sum(len(c.get("text", "").split()) for m in body.get("messages", []) for c in m.get("content", []))
        tokens_out = len(text.split())
        self._send(200, {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                         "stopReason": "end_turn", "metrics": {"latencyMs": 1},
                         "usage": {"inputTokens": tokens_in, "outputTokens": tokens_out,
                                   "totalTokens": tokens_in + tokens_out}})

    def _send(self, status: int, payload: dict[str, Any], error: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        if error:
            self.send_header("x-amzn-errortype", error)
        self.end_headers()
        self.wfile.write(data)
