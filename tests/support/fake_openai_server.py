"""FAKE model endpoint for tests: a real stdlib HTTP server on 127.0.0.1 that speaks just enough of the
OpenAI ``/v1/chat/completions`` and Anthropic ``/v1/messages`` formats.

It is real HTTP on loopback (not a mocked transport), so the adapters' timeouts, connection handling
and status mapping are exercised for real. Switch ``behaviour`` to make it misbehave:

    ok         200 with a well-formed answer (``reply`` may be a string or a callable(body) -> str)
    500 / 429 / 401 / 400 / 408   that status with a JSON error body
    slow       sleeps ``delay_s`` before answering 200 (client timeouts)
    malformed  200 with a body that is not JSON
    no_choices 200 with JSON lacking ``choices`` (or ``content`` on /v1/messages)
    no_usage   200 without a ``usage`` object
    drip       200 whose body arrives one byte every ``drip_s`` seconds (per-phase timeouts never fire)
    echo_auth  401 whose body echoes the request's Authorization header (a leak waiting to happen)
    cut_stream a streamed answer (``"stream": true``) whose connection drops after its first two words

A request with ``"stream": true`` is answered with OpenAI's server-sent chunks, one word every
``token_s`` seconds, then the finish reason, the usage and ``[DONE]``.
    flaky      each request misbehaves with probability ``fail_rate`` (500, 429, 408, slow, drip,
               malformed, echo_auth, no_choices, chosen by a seeded RNG), else answers ok

Use it as a context manager, typically from a fixture in the test module (importing a fixture by
name would trip ruff's F811 at every use)::

    from tests.support.fake_openai_server import FakeOpenAIServer

    @pytest.fixture
    def server():
        with FakeOpenAIServer() as fake:
            yield fake

    def test_x(server):
        server.behaviour = "500"
        OpenAICompatible(server.base_url, "m").complete(...)

Every request is recorded in ``requests`` (path, headers, parsed JSON body) for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BEHAVIOURS = ("ok", "500", "429", "401", "400", "408", "slow", "malformed", "no_choices", "no_usage", "drip",
              "echo_auth", "flaky", "cut_stream")
FAULTS = ("500", "429", "408", "slow", "drip", "malformed", "echo_auth", "no_choices")


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeOpenAIServer:
    host: str = "127.0.0.1"
    behaviour: str = "ok"
    reply: str | Callable[[dict], str] = "4"
    delay_s: float = 2.0
    drip_s: float = 1.0
    fail_rate: float = 0.3
    token_s: float = 0.05
    seed: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)  # what "flaky" chose, request by request
    _httpd: ThreadingHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url`` (includes ``/v1``)."""
        return f"{self.url}/v1"

    def catalog(self, prices: dict[str, float], api_key_env: str, timeout_s: float) -> list[dict[str, Any]]:
        """A model catalogue (JSON entries) of OpenAI-compatible models all served by this server; output
        tokens cost twice the input price."""
        return [{"model_id": name, "provider": "openai", "provider_model": name, "endpoint": self.base_url,
                 "api_key_env": api_key_env, "timeout_s": timeout_s,
                 "price": {"input_usd_per_mtok": price, "output_usd_per_mtok": 2 * price}}
                for name, price in prices.items()]

    def start(self) -> FakeOpenAIServer:
        import random

        self._rng = random.Random(self.seed)
        self._rng_lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _Server((self.host, 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes handlers sleeping in "slow"
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        self.behaviour, self.reply, self.delay_s = "ok", "4", 2.0
        self.requests.clear()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer_text(self, body: dict) -> str:
        return self.reply(body) if callable(self.reply) else self.reply

    def pick(self) -> str:
        """The behaviour of one request (``flaky`` draws a fault with probability ``fail_rate``)."""
        if self.behaviour != "flaky":
            return self.behaviour
        with self._rng_lock:
            choice = self._rng.choice(FAULTS) if self._rng.random() < self.fail_rate else "ok"
            self.faults.append(choice)
        return choice


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the stdlib's 5 drops handshakes when a gateway under load opens dozens at once


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall between them

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        fake = self.fake
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake.requests.append(RecordedRequest(self.path, headers, body))
        if self.path not in ("/v1/chat/completions", "/v1/messages"):
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        behaviour = fake.pick()
        if behaviour == "echo_auth":
            echo = {"error": {"message": "invalid credentials",
                              "received_headers": {"Authorization": headers.get("authorization", "")}}}
            return self._send(401, echo)
        if behaviour.isdigit():
            error = {"error": {"message": f"fake error {behaviour}", "type": "fake"}}
            return self._send(int(behaviour), error)
        if behaviour == "slow":
            fake._stop.wait(fake.delay_s)
        if behaviour == "malformed":
            return self._send_raw(200, b'{"choices": [ this is not json', "application/json")
        anthropic = self.path == "/v1/messages"
        if behaviour == "no_choices":
            return self._send(200, {"id": "x", "object": "chat.completion"} if not anthropic else {"id": "x"})
        text = fake.answer_text(body if isinstance(body, dict) else {})
        payload = _anthropic_reply(body, text) if anthropic else _openai_reply(body, text)
        if behaviour == "no_usage":
            payload.pop("usage", None)
        if behaviour == "drip":
            return self._drip(json.dumps(payload).encode())
        if isinstance(body, dict) and body.get("stream") and not anthropic:
            return self._stream(payload, cut=behaviour == "cut_stream")
        return self._send(200, payload)

    def _stream(self, payload: dict, cut: bool) -> None:
        """The answer as OpenAI's chunks, a word at a time (``cut``: the connection drops mid-answer)."""
        import re

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {"id": payload["id"], "object": "chat.completion.chunk", "created": payload["created"],
                "model": payload["model"]}
        words = re.findall(r"\S+\s*|\s+", payload["choices"][0]["message"]["content"])
        try:
            for i, word in enumerate(words):
                if cut and i == 2:
                    return  # the connection closes with the answer half sent
                if self.fake._stop.wait(self.fake.token_s):
                    return
                chunk = {**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(final)}\n\n".encode())
            self.wfile.write(f"data: {json.dumps({**base, 'choices': [], 'usage': payload['usage']})}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _drip(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for i in range(len(data)):
                if self.fake._stop.wait(self.fake.drip_s):
                    return
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, status: int, payload: Any) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json")

    def _send_raw(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass


def _openai_reply(body: Any, text: str) -> dict:
    body = body if isinstance(body, dict) else {}
    prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": max(1, prompt_chars // 4), "completion_tokens": max(1, len(text) // 4),
                  "total_tokens": max(1, prompt_chars // 4) + max(1, len(text) // 4)},
    }


def _anthropic_reply(body: Any, text: str) -> dict:
    body = body if isinstance(body, dict) else {}
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "fake"),
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 11, "output_tokens": 3},
    }

