"""The local HTTP server's own edge cases (the router's HTTP contract is tested on the handler itself)."""

from __future__ import annotations

import http.client
import json
import socket

from switchboard import cli
from switchboard.local.server import LocalServer


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
