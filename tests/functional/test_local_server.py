"""The local HTTP server's own edge cases (the router's HTTP contract is tested on the handler itself)."""

from __future__ import annotations

import http.client
import json
import socket
import time

from switchboard import cli
from switchboard.http.server import LocalServer


class EchoStack:
    """Answers every proxied request with 200 and the event's path (stands in for the router)."""

    def invoke_router(self, event: dict) -> dict:
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"path": event["path"]})}


def _request(server: LocalServer, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict]:
    host, port = server.httpd.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("POST", "/v1/chat/completions", skip_accept_encoding=True)
    for key, value in headers.items():
        conn.putheader(key, value)
    conn.endheaders(body)
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def test_a_non_numeric_content_length_is_a_400_not_a_dropped_connection():
    server = LocalServer(EchoStack(), port=0).start_background()
    try:
        status, body = _request(server, {"Content-Length": "lots"})
        assert status == 400 and "Content-Length" in body["error"]["message"]
        status, body = _request(server, {"Content-Length": "2"}, b"{}")
        assert status == 200 and body == {"path": "/v1/chat/completions"}
    finally:
        server.stop()


def test_requests_before_the_stack_is_attached_get_a_503():
    server = LocalServer(None, port=0).start_background()
    try:
        status, body = _request(server, {"Content-Length": "2"}, b"{}")
        assert status == 503 and "starting" in body["error"]["message"]
    finally:
        server.stop()


def test_switchboard_local_on_a_busy_port_says_so_at_once(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["local", "--port", str(port), "--no-pull"]) == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "--port" in err


class Dripping:
    """A provider that streams its answer a word every 0.2 s (judges: CORRECT at once)."""

    def complete(self, request):  # noqa: ANN001, ANN201
        from switchboard.ports import Completion

        if "<<<ANSWER" in request.messages[-1].content:
            return Completion(text="VERDICT: CORRECT", input_tokens=5, output_tokens=4, finish_reason="stop")
        for i in range(3):
            if request.on_delta is not None:
                request.on_delta(f"w{i} ")
            time.sleep(0.2)
        return Completion(text="w0 w1 w2 ", input_tokens=5, output_tokens=3, finish_reason="stop")


class StreamingStack(EchoStack):
    """Echoes plain requests through ``invoke_router``; its services stream a pinned model's tokens."""

    def __init__(self) -> None:
        from tests.support.builder import build_services
        from tests.support.fakes import ScriptedProviders, catalog_entry

        self._services = build_services([catalog_entry("m", price=0.1)], providers=ScriptedProviders({"m": Dripping()}),
                                        stream_tokens=True)

    def services(self):  # noqa: ANN201
        return self._services


def test_a_streamed_response_reaches_the_client_piece_by_piece():
    import httpx

    stack = StreamingStack()
    server = LocalServer(stack, port=0).start_background()
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "Count."}]}
    try:
        arrivals = []
        with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=10) as response:
            assert response.status_code == 200 and response.headers["transfer-encoding"] == "chunked"
            for line in response.iter_lines():
                if '"content":"w' in line:
                    arrivals.append((line, time.perf_counter()))
        assert len(arrivals) == 3
        assert arrivals[-1][1] - arrivals[0][1] >= 0.3  # sent as produced, not gathered first
        assert len(stack.services().traces.store.items) == 1  # the stream ran to its end: judged and traced
        refused = httpx.post(f"{server.url}/v1/chat/completions", json={**body, "top_p": 0.5}, timeout=10)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "top_p"
        plain = httpx.post(f"{server.url}/v1/chat/completions", json={}, timeout=10)
        assert plain.status_code == 200 and plain.json() == {"path": "/v1/chat/completions"}
    finally:
        server.stop()


class AnsweringStack:
    """Answers health checks and chat completions like the router would (stands in for it)."""

    def invoke_router(self, event: dict) -> dict:
        if event["path"] == "/health":
            return {"statusCode": 200, "body": json.dumps({"status": "ok"})}
        body = json.loads(event["body"])
        answer = {"model": "m", "choices": [{"message": {"content": f"echo: {body['messages'][0]['content']}"}}],
                  "switchboard": {"answered_by": {"tier": 0}, "decision": {"action": "accept", "reason": "final_tier"},
                                  "confidence": None, "cost_usd": 0.0, "trace_id": "t-1"}}
        return {"statusCode": 200, "body": json.dumps(answer)}


def test_ask_uses_a_running_server_and_finds_none_where_nothing_listens(capsys):
    from switchboard.cli.stack_cmds import _running_server

    server = LocalServer(AnsweringStack(), port=0).start_background()
    try:
        assert _running_server(server.url) == server.url
        assert cli.main(["ask", "Is it on?", "--url", server.url]) == 0
        out = capsys.readouterr()
        assert out.out.startswith("echo: Is it on?") and f"serving at {server.url}" in out.err
    finally:
        server.stop()
    assert _running_server(server.url) is None  # stopped: nothing answers


def test_a_client_that_hangs_up_is_not_an_error_on_stderr(capfd):
    server = LocalServer(EchoStack(), port=0).start_background()
    try:
        host, port = server.httpd.server_address[:2]
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
        sock.send(b"GET /health HT")
        sock.close()
        time.sleep(0.3)
        status, _ = _request(server, {"Content-Length": "2"}, b"{}")  # still serving
        assert status == 200
    finally:
        server.stop()
    assert "Traceback" not in capfd.readouterr().err
